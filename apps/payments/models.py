"""Payments out: batches from the ERP, their instructions, flags, approval rules and approvals."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.fields import AmountField, CurrencyField
from apps.core.models import RawDocument, TimeStampedModel
from apps.core.state import machine


class BatchStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    VALIDATED = "validated", "Validated"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    TRANSMITTED = "transmitted", "Transmitted"
    ACCEPTED = "accepted", "Accepted by the bank"
    PARTIALLY_ACCEPTED = "partially_accepted", "Partially accepted"
    REJECTED = "rejected", "Rejected"
    SETTLED = "settled", "Settled"
    RETURNED = "returned", "Returned"
    CANCELLED = "cancelled", "Cancelled"


BATCH_TRANSITIONS = machine(
    {
        BatchStatus.RECEIVED: {BatchStatus.VALIDATED, BatchStatus.REJECTED, BatchStatus.CANCELLED},
        BatchStatus.VALIDATED: {BatchStatus.PENDING_APPROVAL, BatchStatus.CANCELLED},
        BatchStatus.PENDING_APPROVAL: {BatchStatus.APPROVED, BatchStatus.REJECTED, BatchStatus.CANCELLED,
                                       BatchStatus.PENDING_APPROVAL},
        BatchStatus.APPROVED: {BatchStatus.TRANSMITTED, BatchStatus.PENDING_APPROVAL, BatchStatus.CANCELLED},
        BatchStatus.TRANSMITTED: {BatchStatus.ACCEPTED, BatchStatus.PARTIALLY_ACCEPTED, BatchStatus.REJECTED},
        BatchStatus.ACCEPTED: {BatchStatus.SETTLED, BatchStatus.RETURNED, BatchStatus.PARTIALLY_ACCEPTED},
        BatchStatus.PARTIALLY_ACCEPTED: {BatchStatus.SETTLED, BatchStatus.RETURNED},
        BatchStatus.REJECTED: set(),
        BatchStatus.SETTLED: {BatchStatus.RETURNED},
        BatchStatus.RETURNED: set(),
        BatchStatus.CANCELLED: set(),
    },
    reason_required={BatchStatus.REJECTED, BatchStatus.CANCELLED},
)


class Source(models.TextChoices):
    API = "api", "API"
    ERP_PULL = "erp_pull", "ERP pull"
    UPLOAD = "upload", "Upload"
    REIMBURSEMENT = "reimbursement", "Expense reimbursement"


class PaymentBatch(TimeStampedModel):
    entity = models.ForeignKey("org.LegalEntity", on_delete=models.PROTECT, related_name="payment_batches")
    debtor_account = models.ForeignKey("org.BankAccount", on_delete=models.PROTECT, related_name="payment_batches")
    requested_execution_date = models.DateField()
    erp_reference = models.CharField(max_length=100)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    status = models.CharField(max_length=20, choices=BatchStatus.choices, default=BatchStatus.RECEIVED,
                              db_index=True)
    currency = CurrencyField()
    total_amount = AmountField(default=0)
    instruction_count = models.PositiveIntegerField(default=0)
    content_sha256 = models.CharField(max_length=64, help_text="Canonical content; approvals are bound to it")
    required_approvals = models.PositiveSmallIntegerField(default=1)
    required_roles = models.JSONField(default=list, blank=True)
    approval_rules = models.JSONField(default=list, blank=True, help_text="Rule versions that applied, at receipt")
    execution_date_rolled_from = models.DateField(
        null=True, blank=True,
        help_text="The execution date asked for, when the bank's cut-off had passed at transmission and the batch "
                  "was moved to the next business day")
    raw_document = models.ForeignKey(RawDocument, null=True, blank=True, on_delete=models.PROTECT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    last_edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("approve_paymentbatch", "Can approve or reject payment batches")]
        constraints = [
            models.UniqueConstraint(fields=["entity", "erp_reference"], name="payment_batch_erp_reference"),
        ]

    def __str__(self) -> str:
        return f"batch {self.erp_reference} ({self.instruction_count} payments, {self.total_amount} {self.currency})"


class InstructionStatus(models.TextChoices):
    READY = "ready", "Ready"
    HELD = "held", "Held for review"
    ACCEPTED = "accepted", "Accepted by the bank"
    REJECTED = "rejected", "Rejected by the bank"
    SETTLED = "settled", "Settled"
    RETURNED = "returned", "Returned"
    CANCELLED = "cancelled", "Cancelled"


INSTRUCTION_TRANSITIONS = machine(
    {
        InstructionStatus.READY: {InstructionStatus.HELD, InstructionStatus.ACCEPTED, InstructionStatus.REJECTED,
                                  InstructionStatus.CANCELLED, InstructionStatus.RETURNED},
        InstructionStatus.HELD: {InstructionStatus.READY, InstructionStatus.CANCELLED},
        InstructionStatus.ACCEPTED: {InstructionStatus.SETTLED, InstructionStatus.REJECTED, InstructionStatus.RETURNED},
        InstructionStatus.SETTLED: {InstructionStatus.RETURNED},
        InstructionStatus.REJECTED: {InstructionStatus.CANCELLED},  # given up after the bank's rejection
        InstructionStatus.RETURNED: {InstructionStatus.CANCELLED},
        InstructionStatus.CANCELLED: set(),
    },
    reason_required={InstructionStatus.CANCELLED},
)


class PaymentInstruction(TimeStampedModel):
    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="instructions")
    position = models.PositiveIntegerField(help_text="Index in the batch as received (0-based)")
    end_to_end_id = models.CharField(max_length=35)
    amount = AmountField()
    currency = CurrencyField()
    creditor_name = models.CharField(max_length=140)
    creditor_iban = models.CharField(max_length=34, blank=True)
    creditor_account_number = models.CharField(max_length=34, blank=True)
    creditor_routing = models.CharField(max_length=20, blank=True)
    creditor_bic = models.CharField(max_length=11, blank=True)
    creditor_address = models.JSONField(default=dict, blank=True)
    counterparty = models.ForeignKey("org.Counterparty", null=True, blank=True, on_delete=models.PROTECT)
    counterparty_ref = models.CharField(max_length=50, blank=True)
    remittance_information = models.CharField(max_length=140, blank=True)
    purpose = models.CharField(max_length=4, blank=True)
    erp_reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=InstructionStatus.choices, default=InstructionStatus.READY)
    bank_status = models.CharField(max_length=4, blank=True)
    bank_reason_code = models.CharField(max_length=10, blank=True)
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="resent_as",
                                 help_text="The rejected or returned instruction this one corrects and resends")
    history = HistoricalRecords()

    class Meta:
        ordering = ["batch", "position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "end_to_end_id"], name="instruction_e2e_per_batch"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="instruction_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.end_to_end_id}: {self.amount} {self.currency} to {self.creditor_name}"


class FlagKind(models.TextChoices):
    DUPLICATE = "duplicate", "Possible duplicate payment"
    BANK_DETAILS_CHANGED = "bank_details_changed", "Creditor bank details changed"
    DENYLIST = "denylist", "Sanctions / denylist hit"
    TRANSLITERATED = "transliterated", "Characters outside the SEPA set were replaced"


class PaymentFlag(models.Model):
    """Why an instruction is held (or, for information flags, what was changed on its way)."""

    instruction = models.ForeignKey(PaymentInstruction, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=24, choices=FlagKind.choices)
    field = models.CharField(max_length=60, blank=True)
    message = models.TextField()
    holds = models.BooleanField(default=True, help_text="Holds the instruction until reviewed")
    cleared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    cleared_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class ApprovalRule(TimeStampedModel):
    """Per entity: from an amount (in the entity's base currency) upwards, how many distinct approvers with which
    roles. Rules are versioned: a change applies to batches received after it."""

    entity = models.ForeignKey("org.LegalEntity", on_delete=models.PROTECT, related_name="approval_rules")
    name = models.CharField(max_length=100)
    min_amount = AmountField(default=0)
    sources = models.JSONField(default=list, blank=True, help_text="Empty: every source")
    changed_bank_details = models.BooleanField(default=False, help_text="Only for batches with changed details")
    approvers = models.PositiveSmallIntegerField(default=1)
    roles = models.JSONField(default=list, blank=True, help_text="Roles an approver must hold, e.g. ['approver']")
    version = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["entity", "min_amount"]
        constraints = [models.UniqueConstraint(fields=["entity", "name"], name="approval_rule_name")]

    def __str__(self) -> str:
        return f"{self.entity.code} {self.name} v{self.version}"


class Approval(models.Model):
    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    content_sha256 = models.CharField(max_length=64)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "approver"], condition=models.Q(voided_at__isnull=True),
                                    name="one_live_approval_per_approver"),
        ]


class DenylistEntry(TimeStampedModel):
    """A blocked name or account, screened against every creditor (fuzzy on names, exact on accounts)."""

    name = models.CharField(max_length=140, blank=True)
    account = models.CharField(max_length=34, blank=True, help_text="IBAN or account number, exact")
    reason = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "denylist entries"
        constraints = [models.CheckConstraint(condition=~models.Q(name="", account=""), name="denylist_has_key")]

    def __str__(self) -> str:
        return self.name or self.account


class PaymentFile(TimeStampedModel):
    """A generated bank file (pain.001 / NACHA) and where it is on its way to the bank. A file is sent at most
    once: its state is checked under a row lock before every attempt."""

    class Status(models.TextChoices):
        GENERATED = "generated", "Generated, not sent"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent to the bank"
        SUPERSEDED = "superseded", "Never sent; replaced (execution date moved)"

    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="files")
    bank_partner = models.ForeignKey("org.BankPartner", on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=20)
    message_id = models.CharField(max_length=35)
    raw_document = models.ForeignKey(RawDocument, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.GENERATED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bank_partner", "message_id"], name="payment_file_message_id"),
        ]


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin).",
                              code="invalid_time_zone") from None


class BankCutoff(TimeStampedModel):
    """A bank partner's same-day cut-off: files it receives later are executed the next business day. Without a row
    the default applies (14:00 in settings.TIME_ZONE)."""

    bank_partner = models.OneToOneField("org.BankPartner", on_delete=models.PROTECT, related_name="+")
    cutoff = models.TimeField(default=time(14, 0), help_text="Local time at the bank")
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone],
                                 help_text="IANA zone of the cut-off, e.g. Europe/Berlin; empty: settings.TIME_ZONE")
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.bank_partner_id} cut-off {self.cutoff:%H:%M} {self.time_zone or settings.TIME_ZONE}"


class BatchIntake(models.Model):
    """One ``finops.payment_batch.v1`` document pulled from an ERP, and what became of it. One row per document
    (unique), so a document handed over twice is imported once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be imported"
        IMPORTED = "imported", "Imported as a new batch"
        DUPLICATE = "duplicate", "Already received: no new batch"
        REJECTED = "rejected", "Refused (see its case)"

    raw_document = models.ForeignKey(RawDocument, on_delete=models.PROTECT, related_name="+")
    connection_code = models.CharField(max_length=100, blank=True, help_text="The ERP connection that pulled it")
    sync_run = models.ForeignKey("connectors.SyncRun", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    entity_code = models.CharField(max_length=20, blank=True)
    erp_reference = models.CharField(max_length=100, blank=True)
    batch = models.ForeignKey(PaymentBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="intakes")
    problems = models.JSONField(default=list, blank=True, help_text='[{"field": ..., "message": ...}]')
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["raw_document"], name="batch_intake_once_per_document")]

    def __str__(self) -> str:
        return f"ERP batch {self.erp_reference or '(no reference)'}, document {self.raw_document_id}"


class ErpStatusPush(models.Model):
    """A payment status event on its way to the entity's ERP as a ``finops.payment_status.v1`` document. One row
    per event; per ERP connection the rows are delivered in the order the events happened."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        RETRYING = "retrying", "ERP unreachable; retrying"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Refused (see its case)"
        SKIPPED = "skipped", "Not sent: the entity has no ERP connection"

    event_id = models.UUIDField(help_text="The outbox event's id; the document's event_id (the ERP dedupes by it)")
    event_type = models.CharField(max_length=100)
    occurred_at = models.DateTimeField(help_text="When the event happened; the document shows the state as of then")
    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="erp_pushes")
    instruction = models.ForeignKey(PaymentInstruction, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", help_text="Set for instruction events: the document names it")
    connection = models.ForeignKey("connectors.Connection", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    reason = models.TextField(blank=True, help_text="The reason the event gave (rejections, cancellations)")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    raw_document = models.ForeignKey(RawDocument, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", help_text="The document sent (built once, resent as is)")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True, help_text="An attempt is in flight until then")
    last_error = models.TextField(blank=True)
    answer = models.JSONField(default=dict, blank=True, help_text="The ERP's answer")
    sync_run = models.ForeignKey("connectors.SyncRun", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", help_text="The connector run of the latest attempt")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["event_id"], name="erp_status_push_once_per_event")]
        indexes = [
            models.Index(fields=["connection", "occurred_at"], name="erp_status_push_queue_idx",
                         condition=models.Q(status__in=["pending", "retrying"])),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> ERP ({self.status})"
