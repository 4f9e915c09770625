"""Thin tasks: take ids, call one service, safe to run twice (queue ``events``, see CELERY_TASK_ROUTES)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def webhook_deliver_task(delivery_ids: list[int] | int) -> None:
    from apps.webhooks.services import webhook_deliveries_send

    ids = [delivery_ids] if isinstance(delivery_ids, int) else delivery_ids  # an int: queued by an older release
    webhook_deliveries_send(delivery_ids=ids)  # claims under row locks: not due / delivered / in flight = no-op


@shared_task(ignore_result=True)
def webhook_deliveries_due_task() -> int:
    from apps.webhooks.services import webhook_deliveries_enqueue_due

    return webhook_deliveries_enqueue_due()


@shared_task(ignore_result=True)
def webhook_health_check_task() -> dict:
    from apps.webhooks.services import webhook_health_check_all

    return webhook_health_check_all()
