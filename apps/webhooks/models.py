"""Webhook subscriptions, one delivery per (subscription, event) and a row per attempt.

The signing secret is stored only as Fernet ciphertext (``secret_ciphertext``), excluded from history, never
serialised. A delivery keeps the exact JSON body it sends, so every attempt and every replay sends the same bytes
(and the same event id, so receivers dedupe). Only status *transitions* are audited (``DELIVERY.move``); the
counters and the lease change on every attempt and are excluded from history (``DeliveryAttempt`` rows are the
log of attempts).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel
from apps.core.state import machine

DEFAULT_MAX_ATTEMPTS = 8


class WebhookSubscription(TimeStampedModel):
    name = models.CharField(max_length=200, unique=True)
    url = models.URLField(max_length=2000, help_text="https:// in production")
    event_types = models.JSONField(
        default=list, help_text='Exact types ("case.opened"), prefixes ("case.*") or "*" for every event'
    )
    secret_ciphertext = models.BinaryField(default=b"", editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    legal_entity = models.ForeignKey(
        "org.LegalEntity", null=True, blank=True, on_delete=models.PROTECT,
        help_text="Only events that name this entity, or no entity at all",
    )
    max_attempts = models.PositiveSmallIntegerField(default=DEFAULT_MAX_ATTEMPTS)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords(excluded_fields=["secret_ciphertext", "updated_at"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        for pattern in self.event_types or ():
            if pattern == "*" or pattern == event_type:
                return True
            if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
                return True
        return False


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)

# One table, one writer (``move``). Back to pending = a replay (a new attempt sequence).
DELIVERY = machine({
    DeliveryStatus.PENDING: {DeliveryStatus.RETRYING, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED},
    DeliveryStatus.RETRYING: {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.PENDING},
    DeliveryStatus.DELIVERED: {DeliveryStatus.PENDING},
    DeliveryStatus.FAILED: {DeliveryStatus.PENDING},
})

DELIVERY_HISTORY_EXCLUDED = [
    "updated_at", "attempt_count", "attempts_total", "next_attempt_at", "locked_until", "last_status_code",
    "last_error", "body",
]


class WebhookDelivery(TimeStampedModel):
    # No index of its own: (subscription, created_at) and (subscription, event_id) lead with it.
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.PROTECT, related_name="deliveries",
                                     db_index=False)
    event_id = models.UUIDField(help_text="The outbox event's id; the same on every attempt and replay")
    event_type = models.CharField(max_length=100)
    body = models.TextField(help_text="The exact JSON body sent")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    sequence = models.PositiveIntegerField(default=1, help_text="1, then +1 per replay")
    attempt_count = models.PositiveIntegerField(default=0, help_text="Attempts in the current sequence")
    attempts_total = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True, help_text="An attempt is in flight until then")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=DELIVERY_HISTORY_EXCLUDED)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="webhook_delivery_once_per_event"),
        ]
        indexes = [
            models.Index(fields=["subscription", "created_at"]),
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due_idx",
                         condition=models.Q(status__in=["pending", "retrying"])),
            models.Index(fields=["event_type"]),
        ]
        permissions = [("replay_webhookdelivery", "Can replay a webhook delivery")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> {self.subscription_id}"


class DeliveryAttempt(models.Model):
    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        RETRY = "retry", "Failed, will retry"
        FAILED = "failed", "Failed"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts",
                                 db_index=False)  # (delivery, number) is unique, so indexed
    number = models.PositiveIntegerField(help_text="FinOps-Delivery-Attempt: 1, 2, ... over every sequence")
    sequence = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True, help_text="At most 2,000 characters, secrets masked")
    response_body = models.TextField(blank=True, help_text="The first 2 KB of the answer")
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_unique")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.outcome}"
