from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def payment_batch_transmit_task(batch_id: int) -> None:
    """Safe to run twice: the service re-checks the file's state under a lock and never sends a file twice."""
    from apps.payments.transmission import payment_batch_transmit

    payment_batch_transmit(batch_id=batch_id)
