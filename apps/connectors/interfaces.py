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
    """An ERP, in the canonical documents of docs/partner-documents.md."""

    def pull_payment_batches(self) -> list[RawDocument]:
        """One ``finops.payment_batch.v1`` per batch the ERP wants paid; only documents not delivered before."""

    def pull_master_data(self) -> list[RawDocument]:
        """One ``finops.master_data.v1`` per legal entity; only snapshots not delivered before (unchanged master
        data gives the same document, a duplicate)."""

    def post_journal(self, doc: RawDocument) -> dict[str, Any]:
        """Post a ``finops.journal.v1``; idempotent by its ``journal_id``. Answers ``{"status": "posted",
        "document_number", "already_posted"}``, ``{"status": "rejected", "error": {code, message, field,
        period}}`` (an answer, not a failure) or, for file-based ERPs, ``{"status": "submitted", "reference"}``."""

    def journal_status(self, journal_id: str) -> dict[str, Any]:
        """What the ERP says about a journal: as ``post_journal``, or ``{"status": "unknown"}``."""

    def push_payment_status(self, doc: RawDocument) -> dict[str, Any]:
        """Deliver a ``finops.payment_status.v1``; the ERP deduplicates by ``event_id``. ``{"status":
        "delivered", "duplicate": bool}``."""


@runtime_checkable
class ExpenseSource(Protocol):
    def pull_approved_reports(self) -> list[RawDocument]:
        """One ``finops.expense_report.v1`` per approved, not yet exported report, not delivered before."""

    def mark_exported(self, report_ids: list[str], state: str = "exported") -> dict[str, Any]:
        """Mark reports ``exported`` (journal posted) or ``paid`` (reimbursed); idempotent."""


#: Operations a console user or a schedule may start without input, per partner kind.
RUNNABLE_OPERATIONS = {
    "bank": ("fetch_statements", "fetch_status_reports", "check"),
    "erp": ("pull_payment_batches", "pull_master_data", "check"),
    "expense": ("pull_approved_reports", "check"),
}
#: Operations a schedule runs when the connection's options name none.
DEFAULT_SCHEDULED = {
    "bank": ("fetch_statements", "fetch_status_reports"),
    "erp": ("pull_payment_batches", "pull_master_data"),
    "expense": ("pull_approved_reports",),
}
