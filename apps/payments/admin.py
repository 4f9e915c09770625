from django.contrib import admin

from apps.core.admin import AuditedAdmin
from apps.payments.models import BankCutoff


@admin.register(BankCutoff)
class BankCutoffAdmin(AuditedAdmin):
    list_display = ["bank_partner", "cutoff", "time_zone", "updated_at"]
    search_fields = ["bank_partner__code", "bank_partner__name"]
