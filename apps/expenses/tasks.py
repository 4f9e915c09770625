"""Celery tasks: each takes ids, calls one service, and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.core.errors import ValidationFailed

LONG = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(**LONG)
def expense_reports_process_task(report_ids: list[int]) -> dict:
    from apps.expenses.services import expense_reports_process

    return expense_reports_process(report_ids=report_ids)


@shared_task(**LONG)
def expense_journal_post_task(journal_id: int) -> str:
    from apps.expenses.services import expense_journal_post

    journal = expense_journal_post(journal_id=journal_id)
    return journal.status if journal else "gone"


@shared_task(**LONG)
def expense_platform_update_task(report_id: int, state: str) -> str:
    from apps.expenses.services import expense_platform_update

    return expense_platform_update(report_id=report_id, state=state).platform_state


@shared_task(**LONG)
def expense_document_import_task(document_id: int, connection_code: str = "") -> str:
    from apps.expenses.services import expense_document_import, intake_failure_record

    try:
        report, created = expense_document_import(document_id=document_id, source="pull")
    except ValidationFailed as exc:
        intake_failure_record(document_id=document_id, message=exc.message)
        return "rejected"
    return "created" if created else "duplicate"


@shared_task(**LONG)
def master_data_import_task(document_id: int, connection_code: str = "") -> str:
    from apps.expenses.masterdata import master_data_document_apply
    from apps.expenses.services import intake_failure_record

    try:
        master_data_document_apply(document_id=document_id, connection_code=connection_code)
    except ValidationFailed as exc:
        intake_failure_record(document_id=document_id, message=exc.message, kind="expense.master_data_rejected")
        return "rejected"
    return "applied"


@shared_task
def expense_postings_resume_task() -> dict:
    from apps.expenses.services import expense_postings_resume

    return expense_postings_resume()


@shared_task
def expense_reimbursements_create_task() -> list[int]:
    from apps.expenses.services import expense_reimbursements_create

    return expense_reimbursements_create()
