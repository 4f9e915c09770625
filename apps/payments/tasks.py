"""Thin tasks: take ids, call one service, safe to run twice (queue ``payments``, see CELERY_TASK_ROUTES)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def payment_batch_transmit_task(batch_id: int) -> None:
    """Safe to run twice: the service re-checks the file's state under a lock and never sends a file twice."""
    from apps.payments.transmission import payment_batch_transmit

    payment_batch_transmit(batch_id=batch_id)


@shared_task(acks_late=True, ignore_result=True)
def erp_batch_intake_task(intake_id: int) -> None:
    """Import one pulled ERP batch document; only a pending intake is processed (under its row lock)."""
    from apps.payments.erp_intake import erp_batch_intake_process

    erp_batch_intake_process(intake_id=intake_id)


@shared_task(acks_late=True, ignore_result=True)
def erp_status_push_task(connection_id: int) -> None:
    """Send an ERP connection's due payment statuses in order; each push is claimed under its row lock."""
    from apps.payments.erp_status import erp_status_pushes_send

    erp_status_pushes_send(connection_id=connection_id)


@shared_task(ignore_result=True)
def erp_exchange_due_task() -> dict:
    """Safety sweep (beat): pushes whose retry is overdue and imports left pending are queued again."""
    from apps.payments.erp_intake import erp_batch_intakes_enqueue_stale
    from apps.payments.erp_status import erp_status_pushes_enqueue_due

    return {"status_push_connections": erp_status_pushes_enqueue_due(),
            "batch_intakes": erp_batch_intakes_enqueue_stale()}
