"""Reads for the console and the API, always filtered by what the user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.expenses.models import ExpenseReport, MasterDataSync
from apps.org.models import LegalEntity
from apps.org.selectors import entity_ids, entity_list


def report_list(*, user) -> QuerySet[ExpenseReport]:
    if not user.has_perm("expenses.view_expensereport"):
        return ExpenseReport.objects.none()
    qs = ExpenseReport.objects.select_related("entity", "reimbursement__batch")
    ids = entity_ids(user=user)
    return qs if ids is None else qs.filter(entity_id__in=ids)


def report_get(*, user, pk: int) -> ExpenseReport:
    return report_list(user=user).prefetch_related("lines", "journals__lines").get(pk=pk)


def master_data_status(*, user) -> list[dict]:
    """Per entity the user may see: its ERP connection, when its master data was last synced, counts per kind."""
    if not user.has_perm("expenses.view_masterdatasync"):
        return []
    syncs = {s.entity_id: s for s in MasterDataSync.objects.all()}
    rows = []
    for entity in entity_list(user=user).select_related("erp_connection").order_by("code"):
        sync = syncs.get(entity.pk)
        rows.append({"entity": entity, "connection": entity.erp_connection, "sync": sync})
    return rows


def entity_for_sync(*, user, code: str) -> LegalEntity:
    return entity_list(user=user).select_related("erp_connection").get(code=code)


def report_timeline(*, report: ExpenseReport) -> list[dict]:
    """The report's history, newest first: who, when, the status and why."""
    entries = []
    for record in report.history.select_related("history_user").order_by("-history_date", "-history_id"):
        entries.append({"when": record.history_date,
                         "who": record.history_user.username if record.history_user else "system",
                         "status": record.get_status_display(), "reason": record.history_change_reason or ""})
    return entries
