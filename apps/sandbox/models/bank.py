"""The sandbox bank's own tables. Nothing here refers to a hub table: the sandbox is the outside world."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.sandbox.models.common import FaultSettings, amount_field as _amount


class StatementFormat(models.TextChoices):
    CAMT053 = "camt053", "camt.053 (end of day) + camt.054 (debit notifications)"
    MT940 = "mt940", "MT940"


class AcceptStatus(models.TextChoices):
    ACCP = "ACCP", "ACCP (accepted customer profile)"
    ACSP = "ACSP", "ACSP (accepted settlement in process)"


class ReturnMode(models.TextChoices):
    STATEMENT = "statement", "Return entry on the next statement (PMNT/ICDT/RRTN)"
    STATUS_REPORT = "status_report", "pain.002 RJCT after ACCP, before execution"


class SandboxBank(FaultSettings):
    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=140)
    bic = models.CharField(max_length=11)
    statement_format = models.CharField(max_length=10, choices=StatementFormat.choices,
                                        default=StatementFormat.CAMT053)
    api_key_ciphertext = models.BinaryField(editable=False, default=b"",
                                            help_text="The per-bank API key (X-API-Key), Fernet-encrypted.")
    file_root = models.CharField(max_length=500, blank=True,
                                 help_text="Directory of this bank's file channel; empty: <sandbox root>/<code>/.")
    write_files = models.BooleanField(default=True, help_text="Also write statements and notifications to "
                                                              "outbox/statements/ (they are always listed over REST).")
    default_limit = _amount(null=True, blank=True, help_text="Per-payment limit for accounts without their own.")
    closed_accounts = models.JSONField(default=list, blank=True,
                                       help_text="IBANs or account numbers that are closed: payments to them → AC04.")
    return_accounts = models.JSONField(default=list, blank=True,
                                       help_text="Creditor accounts whose payments are accepted, then returned.")
    return_reason = models.CharField(max_length=4, default="AC04")
    return_mode = models.CharField(max_length=20, choices=ReturnMode.choices, default=ReturnMode.STATEMENT)
    accept_status = models.CharField(max_length=4, choices=AcceptStatus.choices, default=AcceptStatus.ACCP)
    business_date = models.DateField(null=True, blank=True, help_text="The day being booked; empty: today.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(error_rate__lte=100), name="sandbox_bank_error_rate_pct"),
            models.CheckConstraint(condition=Q(throttle_rate__lte=100), name="sandbox_bank_throttle_rate_pct"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.bic})"

    @property
    def label(self) -> str:
        return f"Sandbox bank {self.code}"


class SandboxAccount(models.Model):
    bank = models.ForeignKey(SandboxBank, on_delete=models.CASCADE, related_name="accounts")
    iban = models.CharField(max_length=34, blank=True)
    number = models.CharField(max_length=34, blank=True)
    name = models.CharField(max_length=140, blank=True, help_text="Account holder")
    currency = models.CharField(max_length=3, default="EUR")
    balance = _amount(default=0)
    limit = _amount(null=True, blank=True, help_text="Largest single payment; above it → AM02.")
    statement_balance = _amount(default=0, help_text="Closing balance of the last statement.")
    last_statement_seq = models.PositiveIntegerField(default=0)
    last_statement_date = models.DateField(null=True, blank=True)
    notification_seq = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["bank", "iban", "number"]
        constraints = [
            models.CheckConstraint(condition=~Q(iban="") | ~Q(number=""), name="sandbox_account_has_id"),
            models.UniqueConstraint(fields=["bank", "iban"], condition=~Q(iban=""), name="sandbox_account_iban_uniq"),
            models.UniqueConstraint(fields=["bank", "number"], condition=~Q(number=""),
                                    name="sandbox_account_number_uniq"),
        ]

    @property
    def identifier(self) -> str:
        return self.iban or self.number

    def __str__(self) -> str:
        return f"{self.bank.code}:{self.identifier} {self.currency}"


class Channel(models.TextChoices):
    REST = "rest", "REST"
    FILE = "file", "File inbox"


class SandboxMessage(models.Model):
    """One pain.001 file the bank received (rejected ones too)."""

    bank = models.ForeignKey(SandboxBank, on_delete=models.CASCADE, related_name="messages")
    msg_id = models.CharField(max_length=35)
    version = models.CharField(max_length=20)  # pain.001.001.03 / pain.001.001.09
    channel = models.CharField(max_length=4, choices=Channel.choices)
    filename = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True)
    content = models.BinaryField()
    is_duplicate = models.BooleanField(default=False)
    nb_of_txs = models.PositiveIntegerField(default=0)
    ctrl_sum = _amount(null=True, blank=True)
    group_status = models.CharField(max_length=4)
    group_reason = models.CharField(max_length=4, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["bank", "msg_id"], condition=Q(is_duplicate=False),
                                    name="sandbox_message_msgid_uniq"),
            models.UniqueConstraint(fields=["bank", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="sandbox_message_idem_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.bank.code}:{self.msg_id} {self.group_status}"


class PaymentStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    EXECUTED = "executed", "Executed"
    RETURNED = "returned", "Returned"


class SandboxPayment(models.Model):
    """One credit transfer (CdtTrfTxInf) of a received pain.001."""

    bank = models.ForeignKey(SandboxBank, on_delete=models.CASCADE, related_name="payments")
    message = models.ForeignKey(SandboxMessage, on_delete=models.CASCADE, related_name="payments")
    debtor_account = models.ForeignKey(SandboxAccount, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="payments")
    position = models.PositiveIntegerField(help_text="Order of the transaction in its file (0-based)")
    pmt_inf_id = models.CharField(max_length=35)
    instr_id = models.CharField(max_length=35, blank=True)
    end_to_end_id = models.CharField(max_length=35)
    debtor_name = models.CharField(max_length=140, blank=True)
    debtor_iban = models.CharField(max_length=34, blank=True)
    creditor_name = models.CharField(max_length=140, blank=True)
    creditor_account = models.CharField(max_length=34, blank=True)
    creditor_bic = models.CharField(max_length=11, blank=True)
    amount = _amount()
    currency = models.CharField(max_length=3)
    requested_date = models.DateField()
    remittance = models.CharField(max_length=140, blank=True)
    status = models.CharField(max_length=10, choices=PaymentStatus.choices)
    reason = models.CharField(max_length=4, blank=True)
    return_pending = models.BooleanField(default=False)
    executed_on = models.DateField(null=True, blank=True)
    returned_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["bank", "end_to_end_id"])]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_payment_amount_positive")]

    def __str__(self) -> str:
        return f"{self.end_to_end_id} {self.amount} {self.currency} {self.status}"


class BookingKind(models.TextChoices):
    PAYMENT = "payment", "Outgoing payment"
    INCOMING = "incoming", "Incoming credit"
    RETURN = "return", "Return of an outgoing payment"


class SandboxBooking(models.Model):
    """A booked line on a sandbox account; it appears on the next end-of-day statement."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="bookings")
    payment = models.ForeignKey(SandboxPayment, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="bookings")
    kind = models.CharField(max_length=10, choices=BookingKind.choices)
    booking_date = models.DateField()
    amount = _amount(help_text="Signed: credit positive, debit negative.")
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=35, unique=True, help_text="The bank's reference (AcctSvcrRef)")
    end_to_end_id = models.CharField(max_length=35, blank=True)
    counterparty_name = models.CharField(max_length=140, blank=True)
    counterparty_account = models.CharField(max_length=34, blank=True)
    remittance = models.CharField(max_length=140, blank=True)
    return_reason = models.CharField(max_length=4, blank=True)
    statement_seq = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["booking_date", "pk"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="sandbox_booking_nonzero")]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.currency}"


class DocumentKind(models.TextChoices):
    STATUS_REPORT = "status_report", "pain.002 status report"
    STATEMENT = "statement", "End-of-day statement"
    NOTIFICATION = "notification", "camt.054 notification"


class SandboxDocument(models.Model):
    """A file the bank makes available (REST listing, and the file outbox)."""

    bank = models.ForeignKey(SandboxBank, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    filename = models.CharField(max_length=255)
    media_type = models.CharField(max_length=100)
    content = models.BinaryField()
    message = models.ForeignKey(SandboxMessage, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="documents")
    account = models.ForeignKey(SandboxAccount, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="documents")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["bank", "filename"], name="sandbox_document_name_uniq")]

    def __str__(self) -> str:
        return f"{self.bank.code}:{self.filename}"
