"""Thin tasks: take ids, call one service, safe to run twice. Enqueue them on the ``connectors`` queue
(``apply_async(..., queue="connectors")``; beat entries carry the queue too)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def sync_run_execute_task(run_id: int) -> None:
    from apps.connectors.services import sync_run_execute

    sync_run_execute(run_id=run_id)  # claims only a queued run: a second delivery is a no-op


@shared_task(acks_late=True, ignore_result=True)
def connection_operation_task(connection_id: int, operation: str) -> None:
    from apps.connectors.services import connection_operation_run

    connection_operation_run(connection_id=connection_id, operation=operation)  # exclusive per connection+operation


@shared_task(acks_late=True, ignore_result=True)
def connection_fetch_statements_task(connection_id: int) -> None:
    from apps.connectors.services import connection_operation_run

    connection_operation_run(connection_id=connection_id, operation="fetch_statements")
