from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def statement_import_run_task(run_id: int) -> None:
    """Import a stored file whose run row exists. Safe to run twice: a finished run is left alone."""
    from apps.statements.models import ImportRun
    from apps.statements.services import statement_import_run

    if ImportRun.objects.filter(pk=run_id, status=ImportRun.Status.RUNNING).exists():
        statement_import_run(run_id=run_id)
