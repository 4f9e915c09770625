from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.statements.models import CashPosition, ImportRun, Statement, StatementEntry
from apps.statements.services import FORMAT_ALIASES


class StatementFileInput(StrictSerializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=sorted(FORMAT_ALIASES), required=False, default="auto")
    csv_mapping = serializers.CharField(required=False, allow_blank=True, default="")


class ImportRunSerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(source="raw_document.sha256")
    filename = serializers.CharField(source="raw_document.filename")
    created_by = serializers.CharField(source="created_by.username", default=None)
    entries_so_far = serializers.SerializerMethodField()

    class Meta:
        model = ImportRun
        fields = ["id", "sha256", "filename", "source", "format", "status", "error", "statements_count",
                  "entries_so_far", "entries_created", "entries_duplicate", "result", "created_by", "started_at",
                  "finished_at"]

    def get_entries_so_far(self, obj) -> int:
        from apps.statements.services import import_progress

        return import_progress(obj)


class StatementSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="bank_account.identifier")
    entity = serializers.CharField(source="bank_account.entity.code")
    sha256 = serializers.CharField(source="raw_document.sha256")

    class Meta:
        model = Statement
        fields = ["id", "account", "entity", "kind", "format", "statement_id", "sequence", "legal_sequence",
                  "period_from", "period_to", "statement_date", "created_at_bank", "currency", "opening_booked",
                  "closing_booked", "opening_available", "closing_available", "entry_count", "total_credits",
                  "total_debits", "balances_reconcile", "entries_created", "entries_duplicate", "import_run",
                  "sha256", "imported_at"]


class StatementEntrySerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="bank_account.identifier")

    class Meta:
        model = StatementEntry
        exclude = ["bank_account", "raw_document", "natural_key"]


class CashPositionSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="bank_account.identifier")
    entity = serializers.CharField(source="bank_account.entity.code")

    class Meta:
        model = CashPosition
        fields = ["account", "entity", "date", "currency", "closing_booked", "closing_available", "intraday",
                  "statement", "updated_at"]
