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


def _transmission_retry(case) -> str:
    from apps.payments.transmission import transmission_retry

    return transmission_retry(case)


register_kind(CaseKind(
    "payment.transmission_failed", "Payment file not sent", severity="critical", sla_hours=2,
    suggested_actions=("Read the error: connection down, file invalid, or outcome unknown",
                       "Retry once the bank connection is back (the file is never sent twice)",
                       "If the outcome is unknown, ask the bank whether the file arrived before anything else"),
    retry=_transmission_retry,
))

register_kind(CaseKind(
    "payment.status_unmatched", "Bank status report we cannot match", severity="high", sla_hours=8,
    suggested_actions=("Check which system sent the original file", "Dismiss if it belongs to another system"),
))


def _batch_intake_retry(case) -> str:
    from apps.payments.erp_intake import erp_batch_intake_retry

    return erp_batch_intake_retry(case)


register_kind(CaseKind(
    "payment.batch_rejected", "ERP payment batch refused", severity="high", sla_hours=8,
    suggested_actions=("Read the problems: each names the instruction and the field",
                       "If our configuration was missing (entity, debtor account, cut-off), fix it and retry: the "
                       "kept document is imported again",
                       "If the ERP's data is wrong, have the ERP send a corrected batch under a new reference, then "
                       "dismiss this case"),
    retry=_batch_intake_retry,
))


def _erp_status_retry(case) -> str:
    from apps.payments.erp_status import erp_status_push_retry

    return erp_status_push_retry(case)


register_kind(CaseKind(
    "payment.erp_status_failed", "ERP refused payment statuses", severity="high", sla_hours=8,
    suggested_actions=("Read the ERP's answer in the occurrences: mapping, adapter or data problem",
                       "Fix the cause in the ERP or the connection's configuration, then retry: the refused status "
                       "documents are sent again, in order"),
    retry=_erp_status_retry,
))
