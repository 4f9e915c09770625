"""Organisation, configured by admins: legal entities, bank partners, bank accounts and counterparties."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.fields import CurrencyField
from apps.core.models import TimeStampedModel


class StatementFormat(models.TextChoices):
    CAMT053 = "camt053", "ISO 20022 camt.053"
    CAMT052 = "camt052", "ISO 20022 camt.052"
    CAMT054 = "camt054", "ISO 20022 camt.054"
    MT940 = "mt940", "SWIFT MT940"
    MT942 = "mt942", "SWIFT MT942"
    BAI2 = "bai2", "BAI2"
    CSV = "csv", "CSV with a saved mapping"


class PaymentFormat(models.TextChoices):
    PAIN001_03 = "pain.001.001.03", "ISO 20022 pain.001.001.03"
    PAIN001_09 = "pain.001.001.09", "ISO 20022 pain.001.001.09"
    NACHA = "nacha", "NACHA (ACH)"


class Channel(models.TextChoices):
    SFTP = "sftp", "SFTP"
    API = "api", "Bank API"
    DIRECTORY = "directory", "File drop directory"
    MANUAL = "manual", "Manual upload"


class LegalEntity(TimeStampedModel):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    base_currency = CurrencyField()
    erp_connection = models.ForeignKey(
        "connectors.Connection", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The ERP connection this entity posts journals and payment statuses to",
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "legal entities"
        permissions = [
            ("access_legalentity", "Can access this legal entity's records (object permission)"),
            ("access_all_entities", "Can access every legal entity (explicit grant, never a role's)"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class BankPartner(TimeStampedModel):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    bic = models.CharField(max_length=11)
    statement_formats = models.JSONField(default=list, blank=True)
    payment_format = models.CharField(
        max_length=20, choices=PaymentFormat.choices, default=PaymentFormat.PAIN001_03
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.MANUAL)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class BankAccount(TimeStampedModel):
    entity = models.ForeignKey(LegalEntity, on_delete=models.PROTECT, related_name="bank_accounts")
    bank = models.ForeignKey(BankPartner, on_delete=models.PROTECT, related_name="accounts")
    iban = models.CharField(max_length=34, null=True, blank=True, unique=True)
    account_number = models.CharField(max_length=34, blank=True)
    routing_code = models.CharField(max_length=20, blank=True, help_text="Sort code, ABA routing number, BLZ ...")
    currency = CurrencyField()
    name = models.CharField(max_length=200)
    ach_company_id = models.CharField(max_length=10, blank=True,
                                      help_text="ACH company id the bank assigned (NACHA originators only)")
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["entity__code", "name"]
        permissions = [("access_bankaccount", "Can access this bank account's records (object permission)")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(iban__isnull=False) | ~models.Q(account_number=""),
                name="bankaccount_has_identifier",
            ),
            models.UniqueConstraint(  # one number may hold several currencies (multi-currency accounts)
                fields=["bank", "account_number", "routing_code", "currency"],
                condition=models.Q(iban__isnull=True),
                name="bankaccount_local_number_unique",
            ),
        ]

    @property
    def identifier(self) -> str:
        return self.iban or f"{self.routing_code}/{self.account_number}".lstrip("/")

    def __str__(self) -> str:
        return f"{self.name} ({self.identifier}, {self.currency})"


class Counterparty(TimeStampedModel):
    """A vendor, customer or employee of an entity. Every change of its bank details is kept in history."""

    class Kind(models.TextChoices):
        VENDOR = "vendor", "Vendor"
        CUSTOMER = "customer", "Customer"
        EMPLOYEE = "employee", "Employee"

    entity = models.ForeignKey(LegalEntity, on_delete=models.PROTECT, related_name="counterparties")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    code = models.CharField(max_length=50, help_text="The counterparty's id in the ERP")
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, blank=True)
    iban = models.CharField(max_length=34, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    account_number = models.CharField(max_length=34, blank=True)
    routing_code = models.CharField(max_length=20, blank=True)
    bank_details_changed_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["entity__code", "name"]
        verbose_name_plural = "counterparties"
        constraints = [models.UniqueConstraint(fields=["entity", "kind", "code"], name="counterparty_code_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()} {self.code})"


class FxRate(models.Model):
    """1 unit of ``base`` = ``rate`` units of ``quote`` on ``date`` (reference rates, e.g. the ECB's or the ERP's)."""

    date = models.DateField()
    base = CurrencyField()
    quote = CurrencyField()
    rate = models.DecimalField(max_digits=20, decimal_places=10)
    source = models.CharField(max_length=50, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-date", "base", "quote"]
        constraints = [
            models.UniqueConstraint(fields=["date", "base", "quote"], name="fx_rate_per_day"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="fx_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.date} 1 {self.base} = {self.rate} {self.quote}"
