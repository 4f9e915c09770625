"""Bank statements: import runs, statements, entries (immutable facts), CSV mappings and cash positions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from simple_history.models import HistoricalRecords

from apps.core.fields import AmountField, CurrencyField
from apps.core.models import RawDocument, TimeStampedModel


class StatementKind(models.TextChoices):
    END_OF_DAY = "end_of_day", "End of day"
    INTRADAY = "intraday", "Intraday"
    NOTIFICATION = "notification", "Notification"


class EntryStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    PENDING = "pending", "Pending"
    INFO = "info", "Information only"


class CsvMapping(TimeStampedModel):
    """How one bank partner's CSV export is read; ``config`` holds the fields of the parser's CsvMapping."""

    name = models.CharField(max_length=100, unique=True)
    bank_partner = models.ForeignKey("org.BankPartner", null=True, blank=True, on_delete=models.PROTECT)
    config = models.JSONField(default=dict)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportRun(models.Model):
    """One import of one file: a row per run, with progress and the outcome."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        IMPORTED = "imported", "Imported"
        DUPLICATE = "duplicate", "Duplicate file"
        REJECTED = "rejected", "Rejected"

    raw_document = models.ForeignKey(RawDocument, on_delete=models.PROTECT, related_name="statement_imports")
    source = models.CharField(max_length=100)
    format = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="The per-file result, as bank_import --json")
    statements_count = models.PositiveIntegerField(default=0)
    entries_seen = models.PositiveBigIntegerField(default=0)
    entries_created = models.PositiveBigIntegerField(default=0)
    entries_duplicate = models.PositiveBigIntegerField(default=0)
    csv_mapping = models.ForeignKey(CsvMapping, null=True, blank=True, on_delete=models.PROTECT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"import #{self.pk} {self.raw_document.filename or self.raw_document.sha256[:12]} ({self.status})"


class Statement(models.Model):
    """What one file said about one account for one period. A statement re-sent in another file is a second
    row (its entries are recognised as duplicates); entries never depend on statement ids, which banks reuse."""

    bank_account = models.ForeignKey("org.BankAccount", on_delete=models.PROTECT, related_name="statements")
    import_run = models.ForeignKey(ImportRun, on_delete=models.PROTECT, related_name="statements")
    raw_document = models.ForeignKey(RawDocument, on_delete=models.PROTECT, related_name="statements")
    kind = models.CharField(max_length=16, choices=StatementKind.choices)
    format = models.CharField(max_length=40)
    statement_id = models.CharField(max_length=100, blank=True)
    sequence = models.CharField(max_length=40, blank=True)
    legal_sequence = models.CharField(max_length=40, blank=True)
    message_id = models.CharField(max_length=100, blank=True)
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    statement_date = models.DateField(null=True, blank=True, db_index=True, help_text="Closing date or period end")
    created_at_bank = models.DateTimeField(null=True, blank=True)
    currency = CurrencyField()
    opening_booked = AmountField(null=True, blank=True)
    closing_booked = AmountField(null=True, blank=True)
    opening_available = AmountField(null=True, blank=True)
    closing_available = AmountField(null=True, blank=True)
    entry_count = models.PositiveIntegerField(default=0)
    total_credits = AmountField(default=0)
    total_debits = AmountField(default=0)
    balances_reconcile = models.BooleanField(null=True)
    entries_created = models.PositiveIntegerField(default=0)
    entries_duplicate = models.PositiveIntegerField(default=0)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-statement_date", "-imported_at"]
        indexes = [models.Index(fields=["bank_account", "kind", "statement_date"])]
        constraints = [  # what the entries' composite foreign key refers to (see StatementEntry)
            models.UniqueConstraint(fields=["id", "bank_account", "raw_document"], name="statement_lineage"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.statement_id or ''} {self.statement_date or ''}".strip()


class StatementEntry(models.Model):
    """One booking as the bank reported it: an immutable fact with lineage to its raw document.

    ``natural_key`` identifies the same booking across files (overlapping statements, intraday reports later
    confirmed, re-sent files); the database refuses a second row for it. What changes later (matching) is kept
    elsewhere, audited. The one change an entry itself sees is a pending report superseded by its booking.
    """

    # Indexes are kept to what queries need: the unique key and (account, booking date) lead with the account.
    # An entry's account and raw document are its statement's. On PostgreSQL one composite foreign key
    # (statement, account, raw document) -> the statement's (id, account, raw document) checks all three, and that
    # they agree, with one lookup per row instead of three; it and the detail_of key are checked as each row is
    # written, not queued until commit (migration 0005). The ORM keeps on_delete=PROTECT.
    bank_account = models.ForeignKey(
        "org.BankAccount", on_delete=models.PROTECT, related_name="statement_entries", db_index=False,
        db_constraint=False,
    )
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="entries", db_constraint=False)
    raw_document = models.ForeignKey(
        RawDocument, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    natural_key = models.CharField(max_length=64)
    occurrence = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=8, choices=EntryStatus.choices)
    booking_date = models.DateField(null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)
    amount = AmountField(help_text="Signed: credit positive, debit negative")
    currency = CurrencyField()
    direction = models.CharField(max_length=6)
    bank_reference = models.CharField(max_length=100, blank=True)
    servicer_reference = models.CharField(max_length=100, blank=True)
    customer_reference = models.CharField(max_length=100, blank=True)
    end_to_end_id = models.CharField(max_length=100, blank=True)
    mandate_id = models.CharField(max_length=100, blank=True)
    counterparty_name = models.CharField(max_length=200, blank=True)
    counterparty_account = models.CharField(max_length=100, blank=True)
    counterparty_bic = models.CharField(max_length=11, blank=True)
    remittance_text = models.TextField(blank=True)
    structured_reference = models.CharField(max_length=100, blank=True)
    additional_info = models.TextField(blank=True)
    bank_tx_code = models.CharField(max_length=60, blank=True, help_text="Canonical code, e.g. PMNT/RCDT/ESCT")
    bank_tx_category = models.CharField(max_length=20, blank=True)
    raw_type_code = models.CharField(max_length=60, blank=True)
    is_reversal = models.BooleanField(default=False)
    is_return = models.BooleanField(default=False)
    return_reason = models.CharField(max_length=60, blank=True)
    original_end_to_end_id = models.CharField(max_length=100, blank=True)
    original_amount = AmountField(null=True, blank=True)
    original_currency = models.CharField(max_length=3, blank=True)
    exchange_rate = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    charges = models.JSONField(default=list, blank=True)
    transactions = models.JSONField(default=list, blank=True, help_text="Underlying transactions of a batch")
    source_location = models.CharField(max_length=200, blank=True)
    detail_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="details", db_index=False,
        db_constraint=False, help_text="A camt.054 notification detailing a batched booking: not money of its own",
    )
    superseded_at = models.DateTimeField(null=True, blank=True, help_text="When a pending report was booked")
    created_at = models.DateTimeField(db_default=Now(), editable=False)  # set by the database: imports COPY rows

    class Meta:
        ordering = ["booking_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bank_account", "natural_key"], name="statement_entry_natural_key"),
        ]
        indexes = [
            models.Index(fields=["bank_account", "booking_date"]),
            models.Index(fields=["end_to_end_id"], name="statement_entry_e2e"),  # exact matches only: no LIKE twin
        ]
        verbose_name_plural = "statement entries"

    def __str__(self) -> str:
        return f"{self.booking_date or self.value_date} {self.amount} {self.currency} {self.counterparty_name}"


class EntryTransaction(models.Model):
    """One underlying transaction of a batched booking, by end-to-end id: how a camt.054 notification that details
    the batch finds it (and is linked to it instead of counting as money of its own)."""

    entry = models.ForeignKey(StatementEntry, on_delete=models.PROTECT, related_name="batch_transactions")
    bank_account = models.ForeignKey("org.BankAccount", on_delete=models.PROTECT, related_name="+", db_index=False)
    end_to_end_id = models.CharField(max_length=100)
    amount = AmountField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["bank_account", "end_to_end_id"])]


class CashPosition(models.Model):
    """Closing balances per account and day, kept current by statement imports."""

    bank_account = models.ForeignKey("org.BankAccount", on_delete=models.PROTECT, related_name="cash_positions")
    date = models.DateField()
    currency = CurrencyField()
    closing_booked = AmountField(null=True, blank=True)
    closing_available = AmountField(null=True, blank=True)
    intraday = models.BooleanField(default=False, help_text="From an intraday report, not yet end of day")
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bank_account", "-date"]
        constraints = [models.UniqueConstraint(fields=["bank_account", "date"], name="cash_position_per_day")]
