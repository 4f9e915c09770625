"""Reads for connections and runs, filtered by what the user may see. Credentials are never selected for display."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, Case, QuerySet, Value, When

from apps.connectors.models import Connection, SyncRun, SyncRunDocument

HEALTH_WINDOW = 20


def _can(user, perm: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(perm))


def connection_list(*, user) -> QuerySet[Connection]:
    if not _can(user, "connectors.view_connection"):
        return Connection.objects.none()
    has = Case(When(credentials_ciphertext=b"", then=Value(False)), default=Value(True), output_field=BooleanField())
    return (Connection.objects.select_related("fallback").defer("credentials_ciphertext", "fallback__credentials_ciphertext")
            .annotate(has_creds=has).order_by("code"))


def connection_get(*, user, pk: int) -> Connection:
    return connection_list(user=user).get(pk=pk)


def sync_run_list(*, user) -> QuerySet[SyncRun]:
    if not _can(user, "connectors.view_syncrun"):
        return SyncRun.objects.none()
    return SyncRun.objects.select_related("connection", "served_by", "requested_by").defer(
        "connection__credentials_ciphertext", "served_by__credentials_ciphertext"
    )


def sync_run_get(*, user, pk: int) -> SyncRun:
    return sync_run_list(user=user).get(pk=pk)


def sync_run_documents(*, run: SyncRun) -> QuerySet[SyncRunDocument]:
    return run.moved.select_related("document").order_by("pk")


@dataclass(frozen=True)
class Health:
    circuit_state: str
    last_success_at: datetime | None
    runs: int
    failed: int
    error_rate: float | None  # failed / finished, over the last HEALTH_WINDOW finished runs
    avg_latency_ms: int | None  # mean duration of the successful ones among them

    @property
    def error_rate_pct(self) -> int | None:
        return None if self.error_rate is None else round(self.error_rate * 100)


def connection_health(*, connection: Connection, window: int = HEALTH_WINDOW) -> Health:
    recent = list(
        SyncRun.objects.filter(connection=connection, status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED])
        .order_by("-created_at", "-pk").values_list("status", "duration_ms")[:window]
    )
    failed = sum(1 for status, _ in recent if status == SyncRun.Status.FAILED)
    durations = [d for status, d in recent if status == SyncRun.Status.SUCCEEDED and d is not None]
    return Health(
        circuit_state=connection.circuit_state,
        last_success_at=connection.last_success_at,
        runs=len(recent),
        failed=failed,
        error_rate=(failed / len(recent)) if recent else None,
        avg_latency_ms=round(sum(durations) / len(durations)) if durations else None,
    )


def connection_by_code(code: str) -> Connection | None:
    """System-level lookup (configuration, routing): the connection with this code, if any."""
    return Connection.objects.filter(code=code).first()
