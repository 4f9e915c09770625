"""Case kinds raised by expense posting."""

from apps.exceptions.registry import CaseKind, register_kind

register_kind(CaseKind(
    "expense.posting_blocked", "Expense posting blocked by master data", severity="medium", sla_hours=48,
    suggested_actions=("Fix the master data named in the message (cost centre, tax code, employee, period)",
                       "Retry after the next master-data sync", "Repost into the next open period with approval"),
))
