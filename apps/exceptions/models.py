"""The exception queue: one ExceptionCase per failure a person must act on, never a silent drop."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apps.core.fields import AmountField, CurrencyField
from apps.core.models import RawDocument, TimeStampedModel
from apps.core.state import machine


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_RETRY = "waiting_retry", "Waiting for retry"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


ACTIVE_STATUSES = (CaseStatus.OPEN, CaseStatus.IN_PROGRESS, CaseStatus.WAITING_RETRY)

CASE_TRANSITIONS = machine(
    {
        CaseStatus.OPEN: {CaseStatus.IN_PROGRESS, CaseStatus.WAITING_RETRY, CaseStatus.RESOLVED, CaseStatus.DISMISSED},
        CaseStatus.IN_PROGRESS: {CaseStatus.OPEN, CaseStatus.WAITING_RETRY, CaseStatus.RESOLVED, CaseStatus.DISMISSED},
        CaseStatus.WAITING_RETRY: {CaseStatus.OPEN, CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.DISMISSED},
        CaseStatus.RESOLVED: set(),
        CaseStatus.DISMISSED: set(),
    },
    reason_required={CaseStatus.RESOLVED, CaseStatus.DISMISSED},
)


class ExceptionCase(TimeStampedModel):
    kind = models.CharField(max_length=64, db_index=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN, db_index=True)

    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    subject_id = models.CharField(max_length=64)
    subject = GenericForeignKey("subject_type", "subject_id")
    subject_label = models.CharField(max_length=255, help_text="What the case is about, in words")

    legal_entity = models.ForeignKey(
        "org.LegalEntity", null=True, blank=True, on_delete=models.PROTECT, related_name="exception_cases"
    )
    reason_code = models.CharField(max_length=64, blank=True)
    message = models.TextField(help_text="What happened and what a person can do, in plain words")
    suggested_actions = models.JSONField(default=list, blank=True)
    amount = AmountField(null=True, blank=True)
    currency = CurrencyField(blank=True)
    raw_document = models.ForeignKey(RawDocument, null=True, blank=True, on_delete=models.PROTECT)

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_cases"
    )
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When the SLA breach was reported")
    occurrences = models.PositiveIntegerField(default=1)
    last_occurred_at = models.DateTimeField(default=timezone.now)
    retry_count = models.PositiveIntegerField(default=0)
    last_retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    resolution = models.CharField(max_length=32, blank=True)
    resolution_note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="closed_cases"
    )
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["due_at", "-created_at"]
        permissions = [("work_exceptioncase", "Can work cases: assign, start, retry, resolve, dismiss")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id"],
                condition=models.Q(status__in=["open", "in_progress", "waiting_retry"]),
                name="one_active_case_per_subject_and_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | ~models.Q(currency=""), name="case_amount_has_currency"
            ),
        ]
        indexes = [models.Index(fields=["status", "kind"]), models.Index(fields=["legal_entity", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}: {self.subject_label}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def retryable(self) -> bool:
        from apps.exceptions.registry import get_kind

        kind = get_kind(self.kind)
        return bool(kind and kind.retry)

    @property
    def is_overdue(self) -> bool:
        return self.is_active and self.due_at is not None and self.due_at < timezone.now()


class CaseOccurrence(models.Model):
    """Each time the same failure is reported again for an active case (instead of a duplicate case)."""

    case = models.ForeignKey(ExceptionCase, on_delete=models.CASCADE, related_name="occurrence_log")
    occurred_at = models.DateTimeField(default=timezone.now)
    reason_code = models.CharField(max_length=64, blank=True)
    message = models.TextField()
    raw_document = models.ForeignKey(RawDocument, null=True, blank=True, on_delete=models.PROTECT)

    class Meta:
        ordering = ["-occurred_at"]


class SlaRule(TimeStampedModel):
    """How long a case may stay open: per kind (or every kind) and from an amount upwards. The rule with the
    highest threshold that the case's amount reaches wins; a larger payment gets a shorter deadline."""

    kind = models.CharField(max_length=64, blank=True, help_text="Empty: every kind")
    currency = CurrencyField(blank=True, help_text="Empty: any currency")
    min_amount = AmountField(default=0)
    hours = models.PositiveIntegerField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "-min_amount"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "currency", "min_amount"], name="sla_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind or '*'} >= {self.min_amount} {self.currency or ''}: {self.hours} h"
