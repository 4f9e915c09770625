"""Case kinds raised by the payments flow."""

from apps.exceptions.registry import CaseKind, register_kind

register_kind(CaseKind(
    "payment.rejected_by_bank", "Payment rejected by the bank", severity="high", sla_hours=8,
    suggested_actions=("Read the bank's reason code and its explanation",
                       "Correct the creditor details and resend (needs a new approval)",
                       "Cancel the payment and notify the ERP"),
))
register_kind(CaseKind(
    "payment.flagged", "Payment held for review", severity="high", sla_hours=8,
    suggested_actions=("Check for a duplicate payment", "Confirm changed bank details with the vendor by phone",
                       "Release or cancel the instruction"),
))
