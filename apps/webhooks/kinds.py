"""Case kinds raised by webhooks."""

from apps.exceptions.registry import CaseKind, register_kind

ENDPOINT_FAILING = "webhook.endpoint_failing"

register_kind(CaseKind(
    ENDPOINT_FAILING, "Webhook endpoint failing", severity="high", sla_hours=8,
    suggested_actions=(
        "Check the receiver: is it up, does its TLS certificate verify, does it verify the signature with the "
        "current secret?",
        "Open the failed deliveries (Webhooks > Deliveries, status failed) and read the attempts' errors",
        "Replay the failed deliveries once the receiver is fixed",
        "The case closes by itself when the failure rate drops back below the threshold",
    ),
))
