from django.contrib import admin

from apps.core.admin import AuditedAdmin
from apps.org.models import BankAccount, BankPartner, Counterparty, LegalEntity


@admin.register(LegalEntity)
class LegalEntityAdmin(AuditedAdmin):
    list_display = ["code", "name", "country", "base_currency", "active"]
    search_fields = ["code", "name"]


@admin.register(BankPartner)
class BankPartnerAdmin(AuditedAdmin):
    list_display = ["code", "name", "bic", "payment_format", "channel", "active"]
    search_fields = ["code", "name", "bic"]


@admin.register(BankAccount)
class BankAccountAdmin(AuditedAdmin):
    list_display = ["name", "entity", "bank", "iban", "account_number", "currency", "active"]
    list_filter = ["entity", "bank", "currency", "active"]
    search_fields = ["iban", "account_number", "name"]


@admin.register(Counterparty)
class CounterpartyAdmin(AuditedAdmin):
    list_display = ["name", "entity", "kind", "code", "iban", "bank_details_changed_at", "active"]
    list_filter = ["entity", "kind", "active"]
    search_fields = ["name", "code", "iban"]
