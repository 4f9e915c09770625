"""Case kinds raised by the expenses flow."""

from apps.exceptions.registry import CaseKind, register_kind


def _posting_retry(case) -> str:
    from apps.expenses.services import expense_report_retry

    return expense_report_retry(case)


def _reimbursement_retry(case) -> str:
    from apps.expenses.services import expense_reimbursement_retry

    return expense_reimbursement_retry(case)


def _intake_retry(case) -> str:
    from apps.core.errors import RetryFailed, ValidationFailed
    from apps.expenses.services import expense_document_import

    if case.raw_document is None:
        raise RetryFailed("The case has no document to import again.")
    try:
        report, created = expense_document_import(document_id=case.raw_document.pk, source="retry")
    except ValidationFailed as exc:
        raise RetryFailed(exc.message) from None
    return f"report {report.external_id} {'taken' if created else 'was already known'}"


register_kind(CaseKind(
    "expense.posting_blocked", "Expense posting blocked by master data", severity="medium", sla_hours=48,
    suggested_actions=("Fix the master data named in the message (cost centre, tax code, employee, period) in the "
                       "ERP, sync master data, then retry",
                       "Repost into the next open period (needs a second person's approval)"),
    retry=_posting_retry,
))
register_kind(CaseKind(
    "expense.reimbursement_failed", "Employee reimbursement not paid", severity="high", sla_hours=24,
    suggested_actions=("Check the employee's bank details in the ERP and sync master data",
                       "Retry: the report goes into the next reimbursement batch"),
    retry=_reimbursement_retry,
))
register_kind(CaseKind(
    "expense.intake_rejected", "Expense report delivery not taken", severity="medium", sla_hours=24,
    suggested_actions=("Read what is wrong with the delivered report and have the platform correct it",
                       "Retry once the platform (or the hub's configuration) is fixed"),
    retry=_intake_retry,
))
register_kind(CaseKind(
    "expense.master_data_rejected", "ERP master data not applied", severity="high", sla_hours=8,
    suggested_actions=("Read the problem with the ERP's master-data document",
                       "Fix the ERP export or its adapter configuration, then run the sync again"),
))
