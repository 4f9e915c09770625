"""Connection output never carries credentials: only ``has_credentials``."""

from rest_framework import serializers

from apps.connectors.models import Connection, SyncRun, SyncRunDocument
from apps.connectors.selectors import connection_health
from apps.core.api.base import StrictSerializer


class HealthSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    failed = serializers.IntegerField()
    error_rate = serializers.FloatField(allow_null=True)
    avg_latency_ms = serializers.IntegerField(allow_null=True)


class ConnectionSerializer(serializers.ModelSerializer):
    fallback = serializers.CharField(source="fallback.code", default=None, read_only=True)
    has_credentials = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id", "code", "name", "partner_kind", "partner_ref", "transport", "endpoint", "options", "schedule",
            "timeout_seconds", "rate_limit_per_minute", "max_attempts", "failure_threshold", "cooldown_seconds",
            "fallback", "active", "has_credentials", "circuit_state", "opened_at", "consecutive_failures",
            "last_success_at", "last_failure_at", "last_error", "health", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_has_credentials(self, obj) -> bool:
        annotated = getattr(obj, "has_creds", None)
        if annotated is not None:
            return bool(annotated)
        return Connection.objects.filter(pk=obj.pk).exclude(credentials_ciphertext=b"").exists()

    def get_health(self, obj) -> dict:
        return HealthSerializer(connection_health(connection=obj)).data


class SyncRunDocumentSerializer(serializers.ModelSerializer):
    document_id = serializers.IntegerField(source="document.pk", read_only=True)
    sha256 = serializers.CharField(source="document.sha256", read_only=True)
    filename = serializers.CharField(source="document.filename", read_only=True)
    size = serializers.IntegerField(source="document.size", read_only=True)
    media_type = serializers.CharField(source="document.media_type", read_only=True)

    class Meta:
        model = SyncRunDocument
        fields = ["document_id", "sha256", "filename", "size", "media_type", "role", "remote_name", "archived_as"]
        read_only_fields = fields


class SyncRunSerializer(serializers.ModelSerializer):
    connection = serializers.CharField(source="connection.code", read_only=True)
    connection_id = serializers.IntegerField(read_only=True)
    served_by = serializers.CharField(source="served_by.code", default=None, read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", default=None, read_only=True)
    documents = serializers.SerializerMethodField()

    class Meta:
        model = SyncRun
        fields = [
            "id", "connection", "connection_id", "operation", "status", "created_at", "started_at", "finished_at",
            "duration_ms", "attempts", "via_fallback", "served_by", "counts", "bytes", "error", "requested_by",
            "documents",
        ]
        read_only_fields = fields

    def get_documents(self, obj) -> list[dict]:
        return SyncRunDocumentSerializer(obj.moved.select_related("document").order_by("pk")[:200], many=True).data


class RunInput(StrictSerializer):
    operation = serializers.CharField(max_length=50)


class CredentialsInput(StrictSerializer):
    credentials = serializers.DictField(child=serializers.CharField(max_length=20000, trim_whitespace=False),
                                        allow_empty=False, write_only=True)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class ConnectionReasonInput(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
