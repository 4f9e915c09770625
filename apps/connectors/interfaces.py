"""What domain apps may ask of a partner, one small interface per capability.

Domain apps obtain an implementation from ``apps.connectors.services`` (``get_bank_channel``, ``get_erp_adapter``,
``get_expense_source``) and never touch a transport. Every method of the objects they get runs through the
resilience wrapper (timeouts, retries, circuit breaker, fallback, exception case) and records a ``SyncRun``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from apps.core.models import RawDocument


@runtime_checkable
class BankChannel(Protocol):
    def send_payment_file(self, doc: RawDocument) -> dict[str, Any]:
        """Deliver an outbound payment file (e.g. pain.001) to the bank; returns the bank's reference, if any.
        Idempotent: sending the same document twice delivers it once."""

    def fetch_statements(self) -> list[RawDocument]:
        """Collect new statement files (camt.05x, MT940, BAI2...). Returns only documents not delivered before."""

    def fetch_status_reports(self) -> list[RawDocument]:
        """Collect payment status reports (pain.002, ...). Returns only documents not delivered before."""


@runtime_checkable
class ErpAdapter(Protocol):
    def pull_payment_batches(self) -> list[RawDocument]: ...

    def pull_master_data(self) -> list[RawDocument]: ...

    def post_journal(self, doc: RawDocument) -> dict[str, Any]: ...

    def push_payment_status(self, doc: RawDocument) -> dict[str, Any]: ...


@runtime_checkable
class ExpenseSource(Protocol):
    def pull_approved_reports(self) -> list[RawDocument]: ...

    def mark_exported(self, report_ids: list[str]) -> dict[str, Any]: ...


#: Operations a console user or a schedule may start without input, per partner kind.
RUNNABLE_OPERATIONS = {
    "bank": ("fetch_statements", "fetch_status_reports", "check"),
    "erp": ("pull_payment_batches", "pull_master_data", "check"),
    "expense": ("pull_approved_reports", "check"),
}
#: Operations a schedule runs when the connection's options name none.
DEFAULT_SCHEDULED = {
    "bank": ("fetch_statements", "fetch_status_reports"),
    "erp": ("pull_payment_batches",),
    "expense": ("pull_approved_reports",),
}
