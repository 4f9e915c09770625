from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from apps.core.models import Event, RawDocument


class AuditedAdmin(SimpleHistoryAdmin):
    """Admin edits are recorded in history with the editor and a reason naming the changed fields."""

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        changed = ", ".join(form.changed_data) if change else "created"
        obj._change_reason = f"admin: {changed}"[:100]
        super().save_model(request, obj, form, change)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RawDocument)
class RawDocumentAdmin(ReadOnlyAdmin):
    list_display = ["sha256", "filename", "media_type", "size", "source", "direction", "occurred_at"]
    list_filter = ["direction", "media_type", "source"]
    search_fields = ["sha256", "filename"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "type", "aggregate_type", "aggregate_id", "published_at", "attempts"]
    list_filter = ["type", "aggregate_type"]
    search_fields = ["aggregate_id", "id"]
