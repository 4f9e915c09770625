"""The sandbox expense platform's own tables (Concur-like): expense reports and their entries."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.sandbox.models.common import SandboxPartner, amount_field


class SandboxExpensePlatform(SandboxPartner):
    webhook_url = models.URLField(blank=True, help_text="Where approvals are pushed (signed); empty: no push.")
    webhook_secret_ciphertext = models.BinaryField(editable=False, default=b"",
                                                   help_text="HMAC key of the pushes, Fernet-encrypted.")

    class Meta(SandboxPartner.Meta):
        verbose_name = "sandbox expense platform"
        constraints = [
            models.CheckConstraint(condition=Q(error_rate__lte=100), name="sandbox_expense_error_rate_pct"),
            models.CheckConstraint(condition=Q(throttle_rate__lte=100), name="sandbox_expense_throttle_rate_pct"),
        ]

    @property
    def label(self) -> str:
        return f"Sandbox expense platform {self.code}"


class ApprovalStatus(models.TextChoices):
    NOT_SUBMITTED = "A_NOTF", "Not submitted"
    PENDING = "A_PEND", "Pending approval"
    APPROVED = "A_APPR", "Approved"
    SENT_BACK = "A_RESU", "Sent back to the employee"


class ExportState(models.TextChoices):
    NONE = "", "Not exported"
    EXPORTED = "exported", "Exported (journal posted)"
    PAID = "paid", "Paid (reimbursed)"


class SandboxExpenseReport(models.Model):
    platform = models.ForeignKey(SandboxExpensePlatform, on_delete=models.CASCADE, related_name="reports")
    report_id = models.CharField(max_length=32)
    name = models.CharField(max_length=200, help_text="Report title")
    employee_id = models.CharField(max_length=30)
    employee_name = models.CharField(max_length=140)
    org_unit = models.CharField(max_length=20, help_text="Legal entity (OrgUnit1)")
    currency = models.CharField(max_length=3)
    total = amount_field()
    approval_status = models.CharField(max_length=6, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    approver = models.CharField(max_length=100, blank=True)
    submit_date = models.DateTimeField(null=True, blank=True)
    approval_date = models.DateTimeField(null=True, blank=True)
    export_state = models.CharField(max_length=10, choices=ExportState.choices, default=ExportState.NONE,
                                    blank=True)
    export_reference = models.CharField(max_length=100, blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["platform", "report_id"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "report_id"], name="sandbox_expense_report_uniq"),
            models.CheckConstraint(condition=Q(total__gte=0), name="sandbox_expense_report_total_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.platform.code}:{self.report_id} {self.approval_status} {self.export_state or '-'}"


class SandboxExpenseEntry(models.Model):
    report = models.ForeignKey(SandboxExpenseReport, on_delete=models.CASCADE, related_name="entries")
    entry_id = models.CharField(max_length=32)
    position = models.PositiveIntegerField()
    transaction_date = models.DateField()
    expense_type_code = models.CharField(max_length=10)
    expense_type_name = models.CharField(max_length=64, blank=True)
    posted_amount = amount_field(help_text="In the report currency, tax included")
    transaction_amount = amount_field()
    transaction_currency = models.CharField(max_length=3)
    exchange_rate = models.DecimalField(max_digits=20, decimal_places=10, default=1,
                                        help_text="posted = transaction amount x rate")
    tax_code = models.CharField(max_length=20, blank=True)
    tax_amount = amount_field(default=0)
    cost_center = models.CharField(max_length=20, blank=True)
    project_code = models.CharField(max_length=30, blank=True)
    vendor_description = models.CharField(max_length=140, blank=True)
    receipt_image_id = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["report", "position"]
        constraints = [
            models.UniqueConstraint(fields=["report", "entry_id"], name="sandbox_expense_entry_uniq"),
            models.CheckConstraint(condition=Q(exchange_rate__gt=0), name="sandbox_expense_entry_rate_positive"),
        ]
