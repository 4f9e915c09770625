"""Django admin for the sandbox partners: the bank (rules and faults, accounts, payments with the return action,
files), the ERPs (faults, master data per entity, batches, journals, status updates), the expense platform."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.sandbox import erp_services, expense_services, services
from apps.sandbox.models import (
    SandboxAccount,
    SandboxBank,
    SandboxBooking,
    SandboxCategoryAccount,
    SandboxCostCentre,
    SandboxDocument,
    SandboxEmployee,
    SandboxErp,
    SandboxErpEntity,
    SandboxErpPaymentBatch,
    SandboxExpenseEntry,
    SandboxExpensePlatform,
    SandboxExpenseReport,
    SandboxFxRate,
    SandboxGlAccount,
    SandboxJournal,
    SandboxMessage,
    SandboxPayment,
    SandboxPaymentStatusUpdate,
    SandboxPeriod,
    SandboxTaxCode,
)


def clear_faults_action(set_faults, what: str):
    """An admin action clearing every fault of the selected partners through their service."""

    @admin.action(description="Clear all faults")
    def clear_faults(modeladmin, request, queryset):
        for partner in queryset:
            set_faults(partner.code)
        modeladmin.message_user(request, f"Faults cleared on {queryset.count()} {what}.")

    return clear_faults


class AccountInline(admin.TabularInline):
    model = SandboxAccount
    extra = 0
    fields = ("iban", "number", "name", "currency", "balance", "limit", "last_statement_seq", "last_statement_date")
    readonly_fields = ("last_statement_seq", "last_statement_date")


@admin.register(SandboxBank)
class SandboxBankAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "bic", "statement_format", "business_date", "error_rate", "throttle_rate",
                    "outage_start", "outage_end")
    inlines = [AccountInline]
    fieldsets = (
        (None, {"fields": ("code", "name", "bic", "statement_format", "accept_status", "business_date")}),
        ("Files", {"fields": ("file_root", "write_files")}),
        ("Rules", {"fields": ("default_limit", "closed_accounts", "return_accounts", "return_reason", "return_mode")}),
        ("Faults", {"fields": ("latency_ms", "error_rate", "timeout_seconds", "throttle_rate", "retry_after_seconds",
                               "malformed_documents", "outage_start", "outage_end")}),
    )
    actions = [clear_faults_action(lambda code: services.sandbox_faults_set(bank_code=code, clear=True), "bank(s)")]


@admin.register(SandboxPayment)
class SandboxPaymentAdmin(admin.ModelAdmin):
    list_display = ("end_to_end_id", "bank", "amount", "currency", "creditor_account", "status", "reason",
                    "requested_date", "executed_on", "returned_on", "return_pending")
    list_filter = ("bank", "status")
    search_fields = ("end_to_end_id", "creditor_account", "pmt_inf_id")
    readonly_fields = [f.name for f in SandboxPayment._meta.fields]
    actions = ["return_on_statement", "reject_after_acceptance"]

    def _return(self, request, queryset, via: str) -> None:
        done = 0
        for payment in queryset:
            try:
                services.sandbox_payment_return(payment_id=payment.pk, via=via)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{payment.end_to_end_id}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"{done} payment(s) marked for return.")

    @admin.action(description="Return (bank's reason, e.g. AC04) on the next statement")
    def return_on_statement(self, request, queryset):
        self._return(request, queryset, "statement")

    @admin.action(description="Reject after acceptance (pain.002 RJCT), not executed yet")
    def reject_after_acceptance(self, request, queryset):
        self._return(request, queryset, "status_report")


@admin.register(SandboxMessage)
class SandboxMessageAdmin(admin.ModelAdmin):
    list_display = ("msg_id", "bank", "version", "channel", "group_status", "group_reason", "is_duplicate",
                    "received_at")
    list_filter = ("bank", "group_status", "channel")
    exclude = ("content",)
    readonly_fields = [f.name for f in SandboxMessage._meta.fields if f.name != "content"]


@admin.register(SandboxDocument)
class SandboxDocumentAdmin(admin.ModelAdmin):
    list_display = ("filename", "bank", "kind", "created_at", "acknowledged_at")
    list_filter = ("bank", "kind")
    exclude = ("content",)
    readonly_fields = [f.name for f in SandboxDocument._meta.fields if f.name != "content"]


@admin.register(SandboxBooking)
class SandboxBookingAdmin(admin.ModelAdmin):
    list_display = ("reference", "account", "kind", "booking_date", "amount", "currency", "end_to_end_id",
                    "return_reason", "statement_seq")
    list_filter = ("kind", "account__bank")
    readonly_fields = [f.name for f in SandboxBooking._meta.fields]


# -- sandbox ERPs and expense platform ------------------------------------------------------------------------------

FAULTS = ("Faults", {"fields": ("latency_ms", "error_rate", "timeout_seconds", "throttle_rate", "retry_after_seconds",
                                "malformed_documents", "outage_start", "outage_end")})


class ErpEntityInline(admin.TabularInline):
    model = SandboxErpEntity
    extra = 0
    fields = ("code", "name", "country", "currency", "employee_payable_account", "rounding_account",
              "master_data_changed_at")
    readonly_fields = ("master_data_changed_at",)
    show_change_link = True


@admin.register(SandboxErp)
class SandboxErpAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "flavour", "error_rate", "throttle_rate", "outage_start", "outage_end")
    inlines = [ErpEntityInline]
    fieldsets = ((None, {"fields": ("code", "name", "flavour", "file_root", "token_ttl_seconds", "journal_seq")}),
                 FAULTS)
    readonly_fields = ("journal_seq",)
    actions = [clear_faults_action(lambda code: erp_services.sandbox_erp_faults_set(erp_code=code, clear=True),
                                   "ERP(s)")]


def _inline(model_, fields):
    return type(f"{model_.__name__}Inline", (admin.TabularInline,), {"model": model_, "extra": 0, "fields": fields})


@admin.register(SandboxErpEntity)
class SandboxErpEntityAdmin(admin.ModelAdmin):
    """Master data per company code. Changed here, a legacy ERP's snapshot files follow at its next tick."""

    list_display = ("code", "erp", "name", "currency", "master_data_changed_at")
    list_filter = ("erp",)
    inlines = [
        _inline(SandboxPeriod, ("period", "start", "end", "status")),
        _inline(SandboxCostCentre, ("code", "name", "active", "valid_from", "valid_to")),
        _inline(SandboxGlAccount, ("code", "name", "active")),
        _inline(SandboxTaxCode, ("code", "country", "rate", "gl_account", "active")),
        _inline(SandboxEmployee, ("employee_id", "name", "active", "iban", "account_number", "routing", "currency")),
        _inline(SandboxCategoryAccount, ("category", "gl_account")),
        _inline(SandboxFxRate, ("date", "base", "quote", "rate")),
    ]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        SandboxErpEntity.objects.filter(pk=form.instance.pk).update(master_data_changed_at=timezone.now())


@admin.register(SandboxErpPaymentBatch)
class SandboxErpPaymentBatchAdmin(admin.ModelAdmin):
    list_display = ("reference", "erp", "entity", "total", "currency", "status", "run_file", "last_status",
                    "created_at")
    list_filter = ("erp", "status")
    readonly_fields = [f.name for f in SandboxErpPaymentBatch._meta.fields]


@admin.register(SandboxJournal)
class SandboxJournalAdmin(admin.ModelAdmin):
    list_display = ("external_reference", "erp", "entity", "status", "document_number", "period", "total_debit",
                    "currency", "channel", "attempts", "updated_at")
    list_filter = ("erp", "status", "channel")
    search_fields = ("external_reference", "document_number")
    readonly_fields = [f.name for f in SandboxJournal._meta.fields]


@admin.register(SandboxPaymentStatusUpdate)
class SandboxPaymentStatusUpdateAdmin(admin.ModelAdmin):
    list_display = ("event_id", "erp", "batch_reference", "status", "channel", "received_at")
    list_filter = ("erp", "status")
    readonly_fields = [f.name for f in SandboxPaymentStatusUpdate._meta.fields]


@admin.register(SandboxExpensePlatform)
class SandboxExpensePlatformAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "webhook_url", "error_rate", "throttle_rate", "outage_start", "outage_end")
    fieldsets = ((None, {"fields": ("code", "name", "webhook_url", "token_ttl_seconds")}), FAULTS)
    actions = [clear_faults_action(
        lambda code: expense_services.sandbox_expense_faults_set(platform_code=code, clear=True), "platform(s)")]


@admin.register(SandboxExpenseReport)
class SandboxExpenseReportAdmin(admin.ModelAdmin):
    list_display = ("report_id", "platform", "org_unit", "employee_name", "total", "currency", "approval_status",
                    "export_state", "approval_date")
    list_filter = ("platform", "approval_status", "export_state", "org_unit")
    search_fields = ("report_id", "employee_id", "employee_name")
    inlines = [_inline(SandboxExpenseEntry, ("entry_id", "transaction_date", "expense_type_code", "posted_amount",
                                             "transaction_amount", "transaction_currency", "exchange_rate",
                                             "tax_code", "tax_amount", "cost_center", "project_code"))]
