"""The sandbox ERPs' own tables: one data model for both flavours (cloud: REST API; legacy: CSV files).

Per entity (company code) the ERP keeps its master data; per ERP the payment batches it wants paid, the journals
the hub posted and the payment status updates the hub pushed. Nothing here refers to a hub table.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.sandbox.models.bank import Channel
from apps.sandbox.models.common import SandboxPartner, amount_field


class ErpFlavour(models.TextChoices):
    CLOUD = "cloud", "Cloud ERP (REST API)"
    LEGACY = "legacy", "Legacy ERP (CSV files)"


class SandboxErp(SandboxPartner):
    flavour = models.CharField(max_length=10, choices=ErpFlavour.choices, default=ErpFlavour.CLOUD)
    file_root = models.CharField(max_length=500, blank=True,
                                 help_text="Legacy: directory of this ERP's files; empty: <sandbox root>/<code>/.")
    journal_seq = models.PositiveIntegerField(default=0, help_text="Last journal document number issued.")

    class Meta(SandboxPartner.Meta):
        verbose_name = "sandbox ERP"
        constraints = [
            models.CheckConstraint(condition=Q(error_rate__lte=100), name="sandbox_erp_error_rate_pct"),
            models.CheckConstraint(condition=Q(throttle_rate__lte=100), name="sandbox_erp_throttle_rate_pct"),
        ]

    @property
    def label(self) -> str:
        return f"Sandbox ERP {self.code}"

    @property
    def is_legacy(self) -> bool:
        return self.flavour == ErpFlavour.LEGACY


class SandboxErpEntity(models.Model):
    """A company code of the ERP, with the accounts the hub posts to on its own."""

    erp = models.ForeignKey(SandboxErp, on_delete=models.CASCADE, related_name="entities")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=140)
    country = models.CharField(max_length=2)
    currency = models.CharField(max_length=3)
    employee_payable_account = models.CharField(max_length=20, blank=True)
    rounding_account = models.CharField(max_length=20, blank=True)
    master_data_changed_at = models.DateTimeField(default=timezone.now,
                                                  help_text="Last change of this entity's master data (as_of).")

    class Meta:
        ordering = ["erp", "code"]
        verbose_name = "sandbox ERP entity"
        verbose_name_plural = "sandbox ERP entities"
        constraints = [models.UniqueConstraint(fields=["erp", "code"], name="sandbox_erp_entity_uniq")]

    def __str__(self) -> str:
        return f"{self.erp.code}:{self.code}"


class SandboxGlAccount(models.Model):
    entity = models.ForeignKey(SandboxErpEntity, on_delete=models.CASCADE, related_name="gl_accounts")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=140)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["entity", "code"]
        verbose_name = "sandbox GL account"
        constraints = [models.UniqueConstraint(fields=["entity", "code"], name="sandbox_gl_account_uniq")]


class SandboxCostCentre(models.Model):
    entity = models.ForeignKey(SandboxErpEntity, on_delete=models.CASCADE, related_name="cost_centres")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=140)
    active = models.BooleanField(default=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["entity", "code"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "code"], name="sandbox_cost_centre_uniq"),
            models.CheckConstraint(condition=Q(valid_from__isnull=True) | Q(valid_to__isnull=True)
                                   | Q(valid_from__lte=models.F("valid_to")), name="sandbox_cost_centre_validity"),
        ]

    def valid_on(self, day) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


class SandboxTaxCode(models.Model):
    entity = models.ForeignKey(SandboxErpEntity, on_delete=models.CASCADE, related_name="tax_codes")
    code = models.CharField(max_length=20)
    country = models.CharField(max_length=2)
    rate = models.DecimalField(max_digits=7, decimal_places=3, help_text="Percent, e.g. 19.000")
    gl_account = models.CharField(max_length=20, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["entity", "code"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "code"], name="sandbox_tax_code_uniq"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=100), name="sandbox_tax_code_rate_pct"),
        ]

    @property
    def rate_text(self) -> str:
        """The percentage as written: at least two decimals, no trailing zeros beyond (19.00, 8.875)."""
        rate = self.rate.normalize()
        return f"{rate:.2f}" if rate.as_tuple().exponent >= -2 else format(rate, "f")


class SandboxEmployee(models.Model):
    entity = models.ForeignKey(SandboxErpEntity, on_delete=models.CASCADE, related_name="employees")
    employee_id = models.CharField(max_length=30)
    name = models.CharField(max_length=140)
    email = models.CharField(max_length=254, blank=True)
    active = models.BooleanField(default=True)
    iban = models.CharField(max_length=34, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    account_number = models.CharField(max_length=34, blank=True)
    routing = models.CharField(max_length=20, blank=True)
    currency = models.CharField(max_length=3)
    street = models.CharField(max_length=70, blank=True)
    postal_code = models.CharField(max_length=16, blank=True)
    town = models.CharField(max_length=35, blank=True)
    country = models.CharField(max_length=2, blank=True)

    class Meta:
        ordering = ["entity", "employee_id"]
        constraints = [models.UniqueConstraint(fields=["entity", "employee_id"], name="sandbox_employee_uniq")]


class PeriodStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class SandboxPeriod(models.Model):
    entity = models.ForeignKey(SandboxErpEntity, on_delete=models.CASCADE, related_name="periods")
    period = models.CharField(max_length=7, help_text="YYYY-MM")
    start = models.DateField()
    end = models.DateField()
    status = models.CharField(max_length=6, choices=PeriodStatus.choices, default=PeriodStatus.OPEN)

    class Meta:
        ordering = ["entity", "period"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "period"], name="sandbox_period_uniq"),
            models.CheckConstraint(condition=Q(start__lte=models.F("end")), name="sandbox_period_start_before_end"),
        ]


class SandboxCategoryAccount(models.Model):
    entity = models.ForeignKey(SandboxErpEntity, on_delete=models.CASCADE, related_name="category_accounts")
    category = models.CharField(max_length=50)
    gl_account = models.CharField(max_length=20)

    class Meta:
        ordering = ["entity", "category"]
        constraints = [models.UniqueConstraint(fields=["entity", "category"], name="sandbox_category_account_uniq")]


class SandboxFxRate(models.Model):
    entity = models.ForeignKey(SandboxErpEntity, on_delete=models.CASCADE, related_name="fx_rates")
    date = models.DateField()
    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=20, decimal_places=10, help_text="1 base = rate quote")

    class Meta:
        ordering = ["entity", "date", "base", "quote"]
        verbose_name = "sandbox FX rate"
        constraints = [
            models.UniqueConstraint(fields=["entity", "date", "base", "quote"], name="sandbox_fx_rate_uniq"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="sandbox_fx_rate_positive"),
        ]


class BatchStatus(models.TextChoices):
    READY = "ready", "Ready to be paid (not fetched yet)"
    EXPORTED = "exported", "Written to export/payments/ (legacy), waiting to be taken"
    PICKED_UP = "picked_up", "Picked up by the hub"


class SandboxErpPaymentBatch(models.Model):
    """A payment run the ERP wants paid; ``payload`` has the finops.payment_batch.v1 shape (without ``schema``)."""

    erp = models.ForeignKey(SandboxErp, on_delete=models.CASCADE, related_name="payment_batches")
    entity = models.ForeignKey(SandboxErpEntity, on_delete=models.CASCADE, related_name="payment_batches")
    reference = models.CharField(max_length=100, help_text="The ERP's payment run id (erp_reference)")
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    total = amount_field()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.READY)
    run_file = models.CharField(max_length=255, blank=True, help_text="Legacy: the CSV file it was written to")
    picked_up_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=30, blank=True, help_text="Last status the hub reported")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = "sandbox ERP payment batch"
        verbose_name_plural = "sandbox ERP payment batches"
        constraints = [
            models.UniqueConstraint(fields=["erp", "reference"], name="sandbox_erp_batch_ref_uniq"),
            models.CheckConstraint(condition=Q(total__gt=0), name="sandbox_erp_batch_total_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.erp.code}:{self.reference} {self.status}"


class JournalStatus(models.TextChoices):
    POSTED = "posted", "Posted"
    REJECTED = "rejected", "Rejected"


class SandboxJournal(models.Model):
    """A journal the hub sent, by its external reference (the hub's journal_id): one ERP document at most.

    A rejected journal keeps its last error; sending the same reference again re-validates it (the master data
    may have been fixed meanwhile). A posted one answers with its document number whatever is sent again."""

    erp = models.ForeignKey(SandboxErp, on_delete=models.CASCADE, related_name="journals")
    entity = models.ForeignKey(SandboxErpEntity, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="journals")
    external_reference = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=JournalStatus.choices)
    document_number = models.CharField(max_length=30, blank=True)
    error = models.JSONField(default=dict, blank=True, help_text="{code, message, field, period} when rejected")
    payload = models.JSONField(encoder=DjangoJSONEncoder, help_text="What the hub sent (last attempt)")
    posting_date = models.DateField(null=True, blank=True)
    period = models.CharField(max_length=7, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    total_debit = amount_field(default=0)
    channel = models.CharField(max_length=4, choices=Channel.choices)
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["erp", "external_reference"], name="sandbox_journal_ref_uniq"),
            models.UniqueConstraint(fields=["erp", "document_number"], condition=~Q(document_number=""),
                                    name="sandbox_journal_docno_uniq"),
            models.CheckConstraint(condition=Q(status="rejected") | ~Q(document_number=""),
                                   name="sandbox_journal_posted_has_number"),
        ]

    def __str__(self) -> str:
        return f"{self.erp.code}:{self.external_reference} {self.status} {self.document_number}"


class SandboxPaymentStatusUpdate(models.Model):
    """A payment status event the hub pushed; deduplicated by event id."""

    erp = models.ForeignKey(SandboxErp, on_delete=models.CASCADE, related_name="status_updates")
    event_id = models.CharField(max_length=100)
    batch_reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=30, blank=True)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    channel = models.CharField(max_length=4, choices=Channel.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["erp", "event_id"], name="sandbox_status_update_event_uniq")]

    def __str__(self) -> str:
        return f"{self.erp.code}:{self.event_id} {self.status}"
