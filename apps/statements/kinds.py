"""Case kinds raised by statement import."""

from apps.exceptions.registry import CaseKind, register_kind
from apps.statements.services import statement_document_retry

register_kind(CaseKind(
    "statement.rejected", "Statement file rejected", severity="high", sla_hours=8,
    suggested_actions=("Read the error: it names the line or XML path", "Ask the bank to resend a corrected file",
                       "Dismiss if the file was sent by mistake"),
    retry=statement_document_retry,
))
register_kind(CaseKind(
    "statement.unbalanced", "Statement balances do not reconcile", severity="high", sla_hours=24,
    suggested_actions=("Compare opening + credits - debits with the closing balance",
                       "Ask the bank for a corrected statement", "Accept with a note if the bank confirms it"),
))
register_kind(CaseKind(
    "statement.gap", "Gap or overlap in statement sequence", severity="medium", sla_hours=24,
    suggested_actions=("Fetch the missing statement from the bank", "Accept if the bank confirms no activity"),
))
register_kind(CaseKind(
    "statement.unknown_account", "Statement for an unknown bank account", severity="medium", sla_hours=24,
    suggested_actions=("Configure the bank account (config_load), then retry", "Dismiss if the account is not ours"),
    retry=statement_document_retry,
))
register_kind(CaseKind(
    "statement.currency_mismatch", "Statement currency differs from the account's", severity="high", sla_hours=24,
    suggested_actions=("Check which account the bank sends this statement for", "Correct the account's currency "
                       "or mapping, then retry"),
    retry=statement_document_retry,
))
