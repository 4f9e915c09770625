from django.contrib import admin

from apps.core.admin import AuditedAdmin
from apps.exceptions.models import SlaRule


@admin.register(SlaRule)
class SlaRuleAdmin(AuditedAdmin):
    list_display = ["kind", "currency", "min_amount", "hours"]
