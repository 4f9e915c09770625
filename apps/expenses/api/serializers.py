from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.expenses.models import ExpenseLine, ExpenseReport, Journal, JournalLine


class ExpenseLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExpenseLine
        fields = ["line_id", "date", "category", "amount", "currency", "original_amount", "original_currency",
                  "fx_rate", "tax_code", "tax_amount", "cost_centre", "project", "merchant", "receipt_ref",
                  "description"]


class JournalLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = JournalLine
        fields = ["position", "account", "cost_centre", "debit", "credit", "currency", "tax_code", "tax_amount", "text"]


class JournalSerializer(serializers.ModelSerializer):
    lines = JournalLineSerializer(many=True, read_only=True)

    class Meta:
        model = Journal
        fields = ["reference", "posting_date", "period", "currency", "status", "erp_connection",
                  "erp_document_number", "erp_error", "posted_at", "lines"]


class ExpenseReportSerializer(serializers.ModelSerializer):
    entity = serializers.CharField(source="entity.code")
    report_id = serializers.CharField(source="external_id")
    reimbursement = serializers.SerializerMethodField()

    class Meta:
        model = ExpenseReport
        fields = ["id", "platform", "report_id", "entity", "employee_id", "employee_name", "title", "currency", "total",
                  "status", "source", "period", "posting_date", "erp_document_number", "platform_state",
                  "reimbursement", "problems", "created_at", "updated_at"]

    def get_reimbursement(self, obj) -> dict | None:
        instruction = obj.reimbursement
        if instruction is None:
            return None
        return {"batch_id": instruction.batch_id, "batch": instruction.batch.erp_reference,
                "end_to_end_id": instruction.end_to_end_id, "status": instruction.status}


class ExpenseReportDetailSerializer(ExpenseReportSerializer):
    lines = ExpenseLineSerializer(many=True, read_only=True)
    journals = JournalSerializer(many=True, read_only=True)

    class Meta(ExpenseReportSerializer.Meta):
        fields = ExpenseReportSerializer.Meta.fields + ["submitted_at", "approved_at", "approved_by", "repost_period",
                                                        "lines", "journals"]


class ExpenseReasonInput(StrictSerializer):
    reason = serializers.CharField(max_length=500)


class ExpenseEmptyInput(StrictSerializer):
    pass
