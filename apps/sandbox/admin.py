"""Django admin for the sandbox bank: banks (rules and faults), accounts, payments (return action), files."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.core.errors import ApplicationError
from apps.sandbox import services
from apps.sandbox.models import (
    SandboxAccount,
    SandboxBank,
    SandboxBooking,
    SandboxDocument,
    SandboxMessage,
    SandboxPayment,
)


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
    actions = ["clear_faults"]

    @admin.action(description="Clear all faults")
    def clear_faults(self, request, queryset):
        for bank in queryset:
            services.sandbox_faults_set(bank_code=bank.code, clear=True)
        self.message_user(request, f"Faults cleared on {queryset.count()} bank(s).")


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
