"""Tasks take ids (or nothing), call one service and are safe to run twice."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def outbox_relay_task() -> int:
    from apps.core.events import outbox_relay

    total = 0
    while True:
        published = outbox_relay()
        total += published
        if published == 0:
            return total


@shared_task(ignore_result=True)
def idempotency_purge_task() -> int:
    from apps.core.idempotency import idempotency_purge

    return idempotency_purge()
