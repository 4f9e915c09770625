"""Shared building blocks: raw documents (payload lineage), the event outbox and idempotency keys."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def _document_path(instance: RawDocument, filename: str) -> str:
    return f"documents/{instance.sha256[:2]}/{instance.sha256[2:4]}/{instance.sha256}"


class RawDocument(models.Model):
    """Every inbound or outbound file or payload, stored once, addressed by the SHA-256 of its bytes."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    sha256 = models.CharField(max_length=64, unique=True)
    content = models.FileField(upload_to=_document_path, max_length=255)
    size = models.BigIntegerField()
    media_type = models.CharField(max_length=100)
    filename = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=100, help_text="Where it came from or went to, e.g. upload, api, bank:DEUT")
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INBOUND)
    occurred_at = models.DateTimeField(help_text="Received (inbound) or sent (outbound) time")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        permissions = [("download_rawdocument", "Can download raw documents")]

    def __str__(self) -> str:
        return f"{self.filename or self.media_type} ({self.sha256[:12]})"


class Event(models.Model):
    """A domain event written in the same transaction as the change it describes (transactional outbox)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100, db_index=True)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=64)
    payload = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["aggregate_type", "aggregate_id"]),
            models.Index(
                fields=["created_at"], name="event_unpublished_idx", condition=models.Q(published_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate_type}:{self.aggregate_id}"


class IdempotencyKey(models.Model):
    """One row per (user, Idempotency-Key, method, path): the first request's fingerprint and response."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        COMPLETED = "completed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key", "method", "path"], name="idempotency_key_unique"),
        ]
