from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from apps.core.admin import ReadOnlyAdmin

from apps.expenses.models import ExpensePolicy, ExpenseReport, Journal, MasterDataSync, MasterRecord


class ReadOnly(ReadOnlyAdmin, SimpleHistoryAdmin):
    """Facts and synced data are changed by services only; the admin shows them and their history."""


@admin.register(ExpenseReport)
class ExpenseReportAdmin(ReadOnly):
    list_display = ("platform", "external_id", "entity", "employee_id", "total", "currency", "status")
    list_filter = ("status", "platform", "entity")
    search_fields = ("external_id", "employee_id", "employee_name")


@admin.register(Journal)
class JournalAdmin(ReadOnly):
    list_display = ("reference", "entity", "period", "status", "erp_connection", "erp_document_number")
    list_filter = ("status", "entity")


@admin.register(MasterRecord)
class MasterRecordAdmin(ReadOnly):
    list_display = ("entity", "kind", "code", "name", "active", "valid_from", "valid_to", "synced_at")
    list_filter = ("entity", "kind", "active")
    search_fields = ("code", "name")


@admin.register(MasterDataSync)
class MasterDataSyncAdmin(admin.ModelAdmin):
    list_display = ("entity", "connection_code", "synced_at")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ExpensePolicy)
class ExpensePolicyAdmin(SimpleHistoryAdmin):
    list_display = ("entity", "reimbursement_account", "payable_account", "rounding_account", "tax_tolerance")
