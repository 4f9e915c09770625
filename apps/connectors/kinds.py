"""Case kinds raised by connectors."""

from apps.exceptions.registry import CaseKind, register_kind

register_kind(CaseKind(
    "connector.unavailable", "Partner connection unavailable", severity="critical", sla_hours=2,
    suggested_actions=("Check the partner's status page", "Use the fallback channel",
                       "The case closes by itself when the connection recovers"),
))
