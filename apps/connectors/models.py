"""Connections to partners (banks, ERPs, expense platforms) and a row per sync run.

Credentials are stored only as Fernet ciphertext (``credentials_ciphertext``), excluded from history, never
serialised. Circuit-breaker counters change on every call: they are excluded from history as well and written
under a row lock by :mod:`apps.connectors.resilience`; only circuit *transitions* (closed/open/half-open) are
audited, through ``CIRCUIT.move``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.models import RawDocument, TimeStampedModel
from apps.core.state import StateMachine


class PartnerKind(models.TextChoices):
    BANK = "bank", "Bank"
    ERP = "erp", "ERP"
    EXPENSE = "expense", "Expense platform"


class Transport(models.TextChoices):
    SFTP = "sftp", "SFTP"
    DIRECTORY = "directory", "Mounted file drop (directory)"
    REST = "rest", "REST API (HTTPS)"


class CircuitState(models.TextChoices):
    CLOSED = "closed", "Closed (healthy)"
    OPEN = "open", "Open (calls rejected)"
    HALF_OPEN = "half_open", "Half-open (probing)"


CIRCUIT = StateMachine(
    {
        CircuitState.CLOSED: frozenset({CircuitState.OPEN}),
        CircuitState.OPEN: frozenset({CircuitState.HALF_OPEN, CircuitState.CLOSED}),
        CircuitState.HALF_OPEN: frozenset({CircuitState.CLOSED, CircuitState.OPEN}),
    },
    field_name="circuit_state",
)

# Fields that change on every call (or hold secrets): never in history.
HISTORY_EXCLUDED = [
    "credentials_ciphertext", "updated_at", "consecutive_failures", "last_success_at", "last_failure_at",
    "last_error", "unavailable_case_id",
]


class Connection(TimeStampedModel):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    partner_kind = models.CharField(max_length=10, choices=PartnerKind.choices)
    partner_ref = models.CharField(
        max_length=100, help_text="Bank partner code for banks; the partner's name for ERP and expense platforms"
    )
    transport = models.CharField(max_length=10, choices=Transport.choices)
    endpoint = models.CharField(
        max_length=500, help_text="sftp://host:port/base/path, https://base.url/ or an absolute directory"
    )
    credentials_ciphertext = models.BinaryField(blank=True, default=b"", editable=False)
    options = models.JSONField(default=dict, blank=True, help_text="Directories, remote paths, OAuth token URL...")
    schedule = models.CharField(
        max_length=100, blank=True, help_text="Interval in seconds (e.g. 300) or a cron line (*/5 * * * *)"
    )
    timeout_seconds = models.PositiveIntegerField(default=30)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit")
    max_attempts = models.PositiveSmallIntegerField(default=3, help_text="Attempts per call for transient errors")
    failure_threshold = models.PositiveSmallIntegerField(
        default=5, help_text="Consecutive failed attempts that open the circuit"
    )
    cooldown_seconds = models.PositiveIntegerField(default=60, help_text="Open circuit waits this long before a probe")
    fallback = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="fallback_for",
        help_text="Used when this connection is unavailable or its circuit is open",
    )
    active = models.BooleanField(default=True)

    circuit_state = models.CharField(max_length=10, choices=CircuitState.choices, default=CircuitState.CLOSED)
    opened_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    unavailable_case_id = models.BigIntegerField(
        null=True, blank=True, help_text="The open connector.unavailable case, resolved on recovery"
    )

    history = HistoricalRecords(excluded_fields=HISTORY_EXCLUDED)

    class Meta:
        ordering = ["code"]
        permissions = [("run_connection", "Can run a connection's operation now")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(fallback=models.F("pk")), name="connection_fallback_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_transport_display()})"

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_ciphertext)


class SyncRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="runs")
    served_by = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="served_runs",
        help_text="The connection that did the work (the fallback when via_fallback)",
    )
    operation = models.CharField(max_length=50, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Sanitised: never contains credentials")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    via_fallback = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    documents = models.ManyToManyField(RawDocument, through="SyncRunDocument", related_name="sync_runs")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"run {self.pk} {self.operation} on {self.connection_id}: {self.status}"


class SyncRunDocument(models.Model):
    """A document a run moved: received (new to the hub's consumers), duplicate, empty, or sent."""

    class Role(models.TextChoices):
        RECEIVED = "received", "Received"
        DUPLICATE = "duplicate", "Duplicate (already delivered; archived only)"
        EMPTY = "empty", "Empty file"
        SENT = "sent", "Sent"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="moved")
    document = models.ForeignKey(RawDocument, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices)
    remote_name = models.CharField(max_length=500, blank=True)
    archived_as = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["document", "role"])]
