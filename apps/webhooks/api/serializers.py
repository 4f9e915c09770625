"""Subscription output never carries the secret: it appears only in the create and rotate-secret answers."""

import json

from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.webhooks.models import DEFAULT_MAX_ATTEMPTS, DeliveryAttempt, WebhookDelivery, WebhookSubscription


class SubscriptionSerializer(serializers.ModelSerializer):
    legal_entity = serializers.CharField(source="legal_entity.code", default=None, read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "event_types", "active", "legal_entity", "max_attempts", "created_by",
                  "secret_rotated_at", "created_at", "updated_at"]
        read_only_fields = fields


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    """Create and rotate-secret answers only. Store the secret now: it is never shown again."""

    secret = serializers.CharField(read_only=True)

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriptionCreateInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    url = serializers.CharField(max_length=2000)
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False)
    legal_entity = serializers.CharField(max_length=20, required=False, allow_null=True, default=None)
    active = serializers.BooleanField(required=False, default=True)
    max_attempts = serializers.IntegerField(required=False, default=DEFAULT_MAX_ATTEMPTS)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class SubscriptionUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    url = serializers.CharField(max_length=2000, required=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False,
                                        required=False)
    legal_entity = serializers.CharField(max_length=20, required=False, allow_null=True)
    active = serializers.BooleanField(required=False)
    max_attempts = serializers.IntegerField(required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class WebhookReasonInput(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "sequence", "started_at", "duration_ms", "status_code", "outcome", "error",
                  "response_body", "next_attempt_at"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    subscription_name = serializers.CharField(source="subscription.name", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "subscription", "subscription_name", "event_id", "event_type", "status", "sequence",
                  "attempt_count", "attempts_total", "next_attempt_at", "last_status_code", "last_error",
                  "created_at", "finished_at"]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    event = serializers.SerializerMethodField()
    attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "event", "attempts"]
        read_only_fields = fields

    def get_event(self, obj) -> dict:
        return json.loads(obj.body)
