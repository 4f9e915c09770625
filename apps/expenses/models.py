"""Expenses: approved reports from the expense platform, the ERP master data they are checked against, the
balanced journals posted to the entity's ERP, and the reimbursement paid to the employee."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.fields import AmountField, CurrencyField
from apps.core.models import RawDocument, TimeStampedModel
from apps.core.state import machine


# -- master data ---------------------------------------------------------------------------------------------------

class MasterKind(models.TextChoices):
    GL_ACCOUNT = "gl_account", "GL account"
    COST_CENTRE = "cost_centre", "Cost centre"
    TAX_CODE = "tax_code", "Tax code"
    EMPLOYEE = "employee", "Employee"
    PERIOD = "period", "Accounting period"
    CATEGORY = "category", "Expense category → GL account"
    ACCOUNT_ROLE = "account_role", "Account for a posting role (employee payable, rounding)"


class MasterRecord(models.Model):
    """One record of the ERP's master data for one legal entity, as of its last sync. ``data`` holds the fields
    of its kind (see docs/partner-documents.md); changes between syncs are kept in history."""

    entity = models.ForeignKey("org.LegalEntity", on_delete=models.PROTECT, related_name="master_records")
    kind = models.CharField(max_length=16, choices=MasterKind.choices)
    code = models.CharField(max_length=60)
    name = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["entity", "kind", "code"]
        constraints = [models.UniqueConstraint(fields=["entity", "kind", "code"], name="master_record_key")]

    def __str__(self) -> str:
        return f"{self.entity_id}:{self.kind}:{self.code}"


class MasterDataSync(models.Model):
    """When an entity's master data was last synced from its ERP, from which document, and what changed."""

    entity = models.OneToOneField("org.LegalEntity", on_delete=models.PROTECT, related_name="master_data_sync")
    connection_code = models.CharField(max_length=50, blank=True)
    synced_at = models.DateTimeField()
    raw_document = models.ForeignKey(RawDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    counts = models.JSONField(default=dict, blank=True, help_text="Records per kind after the sync")
    changes = models.JSONField(default=dict, blank=True, help_text="Created / updated / deactivated per kind")

    def __str__(self) -> str:
        return f"master data of {self.entity_id} at {self.synced_at:%Y-%m-%d %H:%M}"


# -- reports -------------------------------------------------------------------------------------------------------

class ReportStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    BLOCKED = "blocked", "Blocked (see the case)"
    REPOST_PENDING = "repost_pending", "Repost into the next open period awaiting approval"
    READY = "ready", "Validated, journal ready to post"
    SUBMITTED = "submitted", "Submitted to the ERP, waiting for its answer"
    POSTED = "posted", "Posted to the ERP"
    REIMBURSING = "reimbursing", "Reimbursement in a payment batch"
    REIMBURSED = "reimbursed", "Reimbursed"
    REIMBURSEMENT_FAILED = "reimbursement_failed", "Reimbursement rejected or returned by the bank"


REPORT_TRANSITIONS = machine(
    {
        ReportStatus.RECEIVED: {ReportStatus.READY, ReportStatus.BLOCKED},
        ReportStatus.BLOCKED: {ReportStatus.READY, ReportStatus.BLOCKED, ReportStatus.REPOST_PENDING},
        ReportStatus.REPOST_PENDING: {ReportStatus.READY, ReportStatus.BLOCKED},
        ReportStatus.READY: {ReportStatus.SUBMITTED, ReportStatus.POSTED, ReportStatus.BLOCKED},
        ReportStatus.SUBMITTED: {ReportStatus.POSTED, ReportStatus.BLOCKED},
        ReportStatus.POSTED: {ReportStatus.REIMBURSING},
        ReportStatus.REIMBURSING: {ReportStatus.REIMBURSED, ReportStatus.REIMBURSEMENT_FAILED},
        ReportStatus.REIMBURSED: {ReportStatus.REIMBURSEMENT_FAILED},
        ReportStatus.REIMBURSEMENT_FAILED: {ReportStatus.REIMBURSING},
    },
    reason_required={ReportStatus.BLOCKED, ReportStatus.REPOST_PENDING},
)


class ExpenseReport(TimeStampedModel):
    platform = models.CharField(max_length=40, help_text="The expense platform (its connection's partner)")
    external_id = models.CharField(max_length=100, help_text="The platform's report id")
    entity = models.ForeignKey("org.LegalEntity", on_delete=models.PROTECT, related_name="expense_reports")
    employee_id = models.CharField(max_length=60)
    employee_name = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200, blank=True)
    currency = CurrencyField()
    total = AmountField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=20, help_text="pull, webhook, api or upload")
    status = models.CharField(max_length=24, choices=ReportStatus.choices, default=ReportStatus.RECEIVED,
                              db_index=True)
    problems = models.JSONField(default=list, blank=True,
                                help_text="Validation results: [{line, field, message}], empty when valid")
    posting_date = models.DateField(null=True, blank=True, help_text="Date the journal is posted on")
    period = models.CharField(max_length=7, blank=True, help_text="Accounting period YYYY-MM")
    repost_period = models.CharField(max_length=7, blank=True, help_text="Open period a repost was requested into")
    repost_requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                            on_delete=models.PROTECT, related_name="+")
    repost_approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                           on_delete=models.PROTECT, related_name="+")
    erp_document_number = models.CharField(max_length=100, blank=True)
    platform_state = models.CharField(max_length=10, blank=True,
                                      help_text="What the platform was told: exported, paid")
    reimbursement = models.ForeignKey("payments.PaymentInstruction", null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="expense_reports")
    raw_document = models.ForeignKey(RawDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="expense_report_per_platform"),
            models.CheckConstraint(condition=models.Q(total__gt=0), name="expense_report_total_positive"),
        ]
        permissions = [("post_expensereport", "Can retry, repost and release expense postings"),
                       ("approve_repost", "Can approve reposting a report into another period")]

    def __str__(self) -> str:
        return f"{self.platform} report {self.external_id} ({self.total} {self.currency})"


class ExpenseLine(models.Model):
    report = models.ForeignKey(ExpenseReport, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    line_id = models.CharField(max_length=60)
    date = models.DateField()
    category = models.CharField(max_length=60)
    amount = AmountField(help_text="In the report currency, tax included")
    currency = CurrencyField()
    original_amount = AmountField(null=True, blank=True)
    original_currency = models.CharField(max_length=3, blank=True)
    fx_rate = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    tax_code = models.CharField(max_length=20, blank=True)
    tax_amount = AmountField(default=0)
    cost_centre = models.CharField(max_length=60, blank=True)
    project = models.CharField(max_length=60, blank=True)
    merchant = models.CharField(max_length=200, blank=True)
    receipt_ref = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["report", "position"]
        constraints = [models.UniqueConstraint(fields=["report", "line_id"], name="expense_line_id_per_report")]

    def __str__(self) -> str:
        return f"line {self.line_id}: {self.amount} {self.currency} {self.category}"


# -- journals ------------------------------------------------------------------------------------------------------

class JournalStatus(models.TextChoices):
    READY = "ready", "Ready to post"
    SENDING = "sending", "Being sent to the ERP"
    SUBMITTED = "submitted", "Submitted, waiting for the ERP's acknowledgement"
    POSTED = "posted", "Posted"
    REJECTED = "rejected", "Rejected by the ERP"
    SUPERSEDED = "superseded", "Replaced by a new journal"


JOURNAL_TRANSITIONS = machine(
    {
        JournalStatus.READY: {JournalStatus.SENDING, JournalStatus.SUPERSEDED},
        JournalStatus.SENDING: {JournalStatus.SENDING, JournalStatus.SUBMITTED, JournalStatus.POSTED,
                                JournalStatus.REJECTED, JournalStatus.READY},
        JournalStatus.SUBMITTED: {JournalStatus.POSTED, JournalStatus.REJECTED},
        JournalStatus.POSTED: set(),
        JournalStatus.REJECTED: {JournalStatus.SUPERSEDED},
        JournalStatus.SUPERSEDED: set(),
    },
)


class Journal(TimeStampedModel):
    """A balanced journal (sum of debits = sum of credits, enforced by the database on PostgreSQL). Its
    ``reference`` is the ERP's external reference: posting it twice creates one ERP document."""

    reference = models.CharField(max_length=40, unique=True)
    report = models.ForeignKey(ExpenseReport, on_delete=models.PROTECT, related_name="journals")
    entity = models.ForeignKey("org.LegalEntity", on_delete=models.PROTECT, related_name="+")
    posting_date = models.DateField()
    period = models.CharField(max_length=7)
    currency = CurrencyField()
    description = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=12, choices=JournalStatus.choices, default=JournalStatus.READY)
    erp_connection = models.CharField(max_length=50, blank=True,
                                      help_text="The connection it was sent through (the entity's ERP then)")
    erp_document_number = models.CharField(max_length=100, blank=True)
    erp_error = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    raw_document = models.ForeignKey(RawDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                     help_text="The document sent to the ERP")
    posted_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"journal {self.reference}"


class JournalLine(models.Model):
    journal = models.ForeignKey(Journal, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    account = models.CharField(max_length=60)
    cost_centre = models.CharField(max_length=60, blank=True)
    debit = AmountField(default=0)
    credit = AmountField(default=0)
    currency = CurrencyField()
    tax_code = models.CharField(max_length=20, blank=True)
    tax_amount = AmountField(default=0)
    text = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["journal", "position"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(debit__gt=0, credit=0) | models.Q(credit__gt=0, debit=0)),
                name="journal_line_one_side"),
        ]


# -- policy --------------------------------------------------------------------------------------------------------

class ExpensePolicy(TimeStampedModel):
    """Per entity: where reimbursements are paid from, which accounts the hub posts to when the ERP's master
    data names none, and the rounding tolerance for tax checks."""

    entity = models.OneToOneField("org.LegalEntity", on_delete=models.PROTECT, related_name="expense_policy")
    reimbursement_account = models.ForeignKey("org.BankAccount", null=True, blank=True, on_delete=models.PROTECT,
                                              related_name="+")
    payable_account = models.CharField(max_length=60, blank=True)
    rounding_account = models.CharField(max_length=60, blank=True)
    tax_tolerance = AmountField(default="0.02", help_text="Accepted difference between stated and computed tax")
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "expense policies"

    def __str__(self) -> str:
        return f"expense policy of {self.entity_id}"
