"""Admin for connections: credentials are write-only (a blank field keeps them; never rendered back)."""

from django import forms
from django.contrib import admin

from apps.core.crypto import credentials_encrypt
from apps.connectors.models import Connection, SyncRun
from apps.connectors.services import _parse_credentials
from apps.core.admin import AuditedAdmin, ReadOnlyAdmin
from apps.core.errors import ApplicationError

CIRCUIT_FIELDS = ("circuit_state", "opened_at", "consecutive_failures", "last_success_at", "last_failure_at",
                  "last_error", "unavailable_case_id")


class ConnectionForm(forms.ModelForm):
    new_credentials = forms.CharField(
        required=False, label="Replace credentials",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text='JSON object, e.g. {"username": "...", "password": "..."}. Leave empty to keep the current ones; '
                  "they are never shown.",
    )

    class Meta:
        model = Connection
        exclude = ["credentials_ciphertext", *CIRCUIT_FIELDS]

    def clean_new_credentials(self):
        raw = self.cleaned_data.get("new_credentials") or ""
        if not raw.strip():
            return None
        try:
            return _parse_credentials(raw)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(Connection)
class ConnectionAdmin(AuditedAdmin):
    form = ConnectionForm
    list_display = ["code", "name", "partner_kind", "partner_ref", "transport", "active", "circuit_state",
                    "last_success_at"]
    list_filter = ["partner_kind", "transport", "active", "circuit_state"]
    search_fields = ["code", "name", "partner_ref"]
    readonly_fields = CIRCUIT_FIELDS

    def save_model(self, request, obj, form, change):
        new = form.cleaned_data.get("new_credentials")
        if new:
            obj.credentials_ciphertext = credentials_encrypt(new)
        super().save_model(request, obj, form, change)  # history reason: "admin: ..., new_credentials"


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "connection", "operation", "status", "started_at", "duration_ms", "attempts", "via_fallback"]
    list_filter = ["status", "operation", "via_fallback"]
