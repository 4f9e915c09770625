from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.exceptions.models import ExceptionCase


class CaseSerializer(serializers.ModelSerializer):
    entity = serializers.CharField(source="legal_entity.code", default=None, read_only=True)
    assignee = serializers.CharField(source="assignee.username", default=None, read_only=True)
    subject_type = serializers.CharField(source="subject_type.model", read_only=True)
    raw_document = serializers.CharField(source="raw_document.sha256", default=None, read_only=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)

    class Meta:
        model = ExceptionCase
        fields = [
            "id", "kind", "severity", "status", "subject_type", "subject_id", "subject_label", "entity",
            "reason_code", "message", "suggested_actions", "amount", "currency", "raw_document", "assignee",
            "due_at", "overdue", "occurrences", "last_occurred_at", "retry_count", "last_retry_at", "last_error",
            "resolution", "resolution_note", "closed_at", "created_at", "updated_at",
        ]
        read_only_fields = fields


class TimelineEntrySerializer(serializers.Serializer):
    when = serializers.DateTimeField()
    who = serializers.CharField()
    type = serializers.CharField()
    reason = serializers.CharField()
    status = serializers.CharField()
    changes = serializers.ListField(child=serializers.ListField(child=serializers.CharField(allow_null=True)))


class AssignInput(StrictSerializer):
    assignee = serializers.CharField(allow_null=True, help_text="Username, or null to unassign")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReasonInput(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReasonRequiredInput(StrictSerializer):
    reason = serializers.CharField(max_length=2000)
    resolution = serializers.ChoiceField(
        choices=["fixed", "accepted", "duplicate", "not_an_issue"], required=False, default="fixed"
    )


class DismissInput(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


class CaseKindSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    severity = serializers.CharField()
    sla_hours = serializers.IntegerField()
    suggested_actions = serializers.ListField(child=serializers.CharField())
    retryable = serializers.SerializerMethodField()

    def get_retryable(self, obj) -> bool:
        return obj.retry is not None
