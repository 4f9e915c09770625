"""Every call to a partner goes through :func:`call`: one place for timeouts, retries, the circuit breaker,
fallback routing, rate limiting, the ``connector.unavailable`` case and the ``SyncRun`` row.

Rules
- Transports enforce ``Connection.timeout_seconds`` on connect, auth and every read or request.
- Only transient errors (network, timeout, 5xx, 429) are retried, up to ``max_attempts`` per connection, with
  exponential backoff and full jitter (``uniform(0, min(cap, base * 2**n))``); a ``Retry-After`` is honoured
  exactly (up to ``retry_after_cap``; longer waits end the call so a worker is not parked for minutes).
- Circuit breaker per connection, persisted on its row under ``SELECT ... FOR UPDATE``: ``failure_threshold``
  consecutive failed attempts open it; while open calls are rejected at once; after ``cooldown_seconds`` one
  caller probes (half-open, a single attempt); success closes it, failure opens it again.
- When a connection is unavailable (retries exhausted, circuit open, credentials refused) one
  ``connector.unavailable`` case is opened for it (``case_open`` dedupes), and the work is routed to its
  ``fallback`` if it has one (``SyncRun.via_fallback``). The case is resolved by the system when the connection
  succeeds again.
- Sleeping and jitter go through ``clock`` so tests replace them and never wait.
"""

from __future__ import annotations

import logging
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Generic, TypeVar

from django.core.cache import cache
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from apps.core.crypto import credentials_decrypt, secret_values
from apps.connectors.errors import (
    AuthenticationFailed,
    ConnectorUnavailable,
    PermanentError,
    TransientError,
    sanitize,
)
from apps.connectors.models import CIRCUIT, CircuitState, Connection, SyncRun, SyncRunDocument
from apps.core.audit import audited_save
from apps.core.errors import ApplicationError
from apps.core.events import event_emit
from apps.core.models import RawDocument

logger = logging.getLogger(__name__)
T = TypeVar("T")

UNAVAILABLE_KIND = "connector.unavailable"
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0


class Clock:
    """Indirection for waiting, so tests can run the retry logic without waiting."""

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def uniform(self, low: float, high: float) -> float:
        return random.uniform(low, high)  # noqa: S311 - jitter, not cryptography


clock = Clock()


class CircuitOpen(ConnectorUnavailable):
    pass


@dataclass
class Recorder:
    """What a unit of work reports about itself: counts, bytes, documents moved. Passed to ``fn``."""

    run: SyncRun
    connection: Connection
    counts: Counter = field(default_factory=Counter)
    bytes: int = 0
    received: list[int] = field(default_factory=list)

    def reset(self) -> None:
        """A new attempt starts: counts describe the attempt that finished the run (links stay: they happened)."""
        self.counts.clear()
        self.bytes = 0
        self.received.clear()

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def add_bytes(self, n: int) -> None:
        self.bytes += n

    def add_document(self, document: RawDocument, role: str, *, remote_name: str = "") -> SyncRunDocument:
        link = SyncRunDocument.objects.create(run=self.run, document=document, role=role, remote_name=remote_name[:500])
        if role == SyncRunDocument.Role.RECEIVED:
            self.received.append(document.pk)
        return link

    def archived(self, link: SyncRunDocument, name: str) -> None:
        link.archived_as = name[:500]
        link.save(update_fields=["archived_as"])

    def before_request(self) -> None:
        """Called by transports before each request: applies the connection's rate limit."""
        rate_limit_acquire(self.connection)

    def credentials(self) -> dict:
        return credentials_decrypt(self.connection.credentials_ciphertext)


@dataclass
class CallResult(Generic[T]):
    value: T | None
    run: SyncRun


# -- circuit breaker (each step its own short transaction, row-locked) ------------------------------------------

def _locked(connection_id: int) -> Connection:
    return Connection.objects.select_for_update().get(pk=connection_id)


@transaction.atomic
def circuit_admit(connection_id: int) -> str:
    """``closed`` (go), ``probe`` (half-open: this caller makes one attempt), or raises :class:`CircuitOpen`."""
    conn = _locked(connection_id)
    if conn.circuit_state == CircuitState.CLOSED:
        return "closed"
    now = timezone.now()
    if conn.opened_at is None or now >= conn.opened_at + timedelta(seconds=conn.cooldown_seconds):
        conn.opened_at = now  # the next caller waits another cool-down unless this probe settles it
        if conn.circuit_state == CircuitState.OPEN:
            CIRCUIT.move(conn, to=CircuitState.HALF_OPEN, actor=None, reason="circuit: cool-down over, probing",
                         also=["opened_at"])
        else:
            audited_save(conn, actor=None, reason="circuit: probing again", update_fields=["opened_at"])
        return "probe"
    retry_at = conn.opened_at + timedelta(seconds=conn.cooldown_seconds)
    raise CircuitOpen(
        f"Connection {conn.code} is unavailable: its circuit is {conn.circuit_state} after "
        f"{conn.consecutive_failures} consecutive failures; next probe after {retry_at:%Y-%m-%d %H:%M:%S} UTC.",
        {"connection": conn.code, "circuit_state": conn.circuit_state},
    )


@transaction.atomic
def circuit_failure(connection_id: int, *, error: str) -> bool:
    """Count a failed attempt. Returns True when the circuit is (now) open."""
    conn = _locked(connection_id)
    now = timezone.now()
    failures = conn.consecutive_failures + 1
    Connection.objects.filter(pk=conn.pk).update(consecutive_failures=failures, last_failure_at=now, last_error=error)
    conn.consecutive_failures = failures
    trip = conn.circuit_state == CircuitState.HALF_OPEN or (
        conn.circuit_state == CircuitState.CLOSED and failures >= conn.failure_threshold
    )
    if trip:
        conn.opened_at = now
        CIRCUIT.move(conn, to=CircuitState.OPEN, actor=None,
                     reason=f"circuit opened after {failures} consecutive failures", also=["opened_at"])
        event_emit("connection.circuit_opened", conn, {"code": conn.code, "failures": failures, "error": error})
        logger.warning("connector %s: circuit opened after %s failures: %s", conn.code, failures, error)
    return conn.circuit_state == CircuitState.OPEN


@transaction.atomic
def circuit_reachable(connection_id: int) -> None:
    """The partner answered (even if it refused the request): reset the failure count, close a half-open circuit."""
    conn = _locked(connection_id)
    Connection.objects.filter(pk=conn.pk).update(consecutive_failures=0)
    if conn.circuit_state != CircuitState.CLOSED:
        conn.opened_at = None
        CIRCUIT.move(conn, to=CircuitState.CLOSED, actor=None, reason="circuit closed: partner answered",
                     also=["opened_at"])
        event_emit("connection.circuit_closed", conn, {"code": conn.code})


@transaction.atomic
def circuit_success(connection_id: int) -> int | None:
    """Record a success; returns the id of the ``connector.unavailable`` case to resolve, if one was open."""
    conn = _locked(connection_id)
    Connection.objects.filter(pk=conn.pk).update(
        consecutive_failures=0, last_success_at=timezone.now(), last_error="", unavailable_case_id=None
    )
    if conn.circuit_state != CircuitState.CLOSED:
        conn.opened_at = None
        CIRCUIT.move(conn, to=CircuitState.CLOSED, actor=None, reason="circuit closed: call succeeded",
                     also=["opened_at"])
        event_emit("connection.circuit_closed", conn, {"code": conn.code})
        logger.info("connector %s: circuit closed", conn.code)
    return conn.unavailable_case_id


@transaction.atomic
def circuit_reset(*, connection_id: int, actor, reason: str) -> Connection:
    """An admin closes the circuit by hand (after the partner confirmed the fix)."""
    conn = _locked(connection_id)
    Connection.objects.filter(pk=conn.pk).update(consecutive_failures=0)
    conn.consecutive_failures = 0
    if conn.circuit_state != CircuitState.CLOSED:
        conn.opened_at = None
        CIRCUIT.move(conn, to=CircuitState.CLOSED, actor=actor, reason=reason or "circuit reset",
                     also=["opened_at"])
        event_emit("connection.circuit_closed", conn, {"code": conn.code, "manual": True}, actor=actor)
    return conn


# -- the exception case ----------------------------------------------------------------------------------------

def _report_unavailable(conn: Connection, *, message: str, reason_code: str) -> None:
    from apps.exceptions.services import case_open

    case, _created = case_open(
        kind=UNAVAILABLE_KIND, subject=conn, message=message, reason_code=reason_code, actor=None,
    )
    Connection.objects.filter(pk=conn.pk).update(unavailable_case_id=case.pk)


def _resolve_unavailable(conn: Connection, case_id: int, operation: str) -> None:
    from apps.exceptions.services import case_resolve

    try:
        case_resolve(
            case_id=case_id, actor=None, resolution="fixed",
            reason=f"System: connection {conn.code} recovered ({operation} succeeded at "
                   f"{timezone.now():%Y-%m-%d %H:%M:%S} UTC).",
        )
    except ApplicationError as exc:  # closed by a person meanwhile: their decision stands
        logger.info("connector %s: case %s not resolved automatically: %s", conn.code, case_id, exc.message)


# -- rate limit --------------------------------------------------------------------------------------------------

def rate_limit_acquire(conn: Connection) -> None:
    """Fixed one-minute windows counted in the shared cache; waits for the next window when this one is used up."""
    limit = conn.rate_limit_per_minute
    if not limit:
        return
    for _ in range(2):
        now = time.time()
        key = f"connectors:rate:{conn.pk}:{int(now // 60)}"
        cache.add(key, 0, timeout=120)
        try:
            used = cache.incr(key)
        except ValueError:
            used = 1
        if used <= limit:
            return
        clock.sleep(60 - now % 60 + 0.05)
    raise TransientError(f"Rate limit of {limit} requests per minute reached.")


# -- run exclusivity ---------------------------------------------------------------------------------------------

@contextmanager
def exclusive(connection_id: int, operation: str) -> Iterator[bool]:
    """Yields True when no other run of this operation on this connection is in progress (anywhere)."""
    classid = zlib.crc32(f"connectors:{operation}".encode()) - 2**31
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [classid, connection_id])
            got = cursor.fetchone()[0]
        try:
            yield got
        finally:
            if got:
                with db_connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [classid, connection_id])
        return
    key = f"connectors:lock:{classid}:{connection_id}"
    got = cache.add(key, 1, timeout=3600)
    try:
        yield got
    finally:
        if got:
            cache.delete(key)


# -- the wrapper -------------------------------------------------------------------------------------------------

def backoff_delay(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP, jitter: bool = True) -> float:
    """The exponential bound (attempt 1 -> base, 2 -> 2*base, ... up to ``cap``); with full jitter (the default) a
    random wait between 0 and that bound, so that many callers retrying together spread out."""
    bound = min(cap, base * 2 ** (max(attempt, 1) - 1))
    return clock.uniform(0, bound) if jitter else bound


def _secrets(conn: Connection) -> list[str]:
    try:
        return secret_values(credentials_decrypt(conn.credentials_ciphertext))
    except ApplicationError:
        return []


def _attempts(conn: Connection, operation: str, fn: Callable[[Connection, Recorder], T], recorder: Recorder,
              run: SyncRun) -> T:
    """Try ``fn`` on one connection under its circuit, retrying transient errors. Raises ConnectorUnavailable when
    the connection is unavailable, PermanentError/AuthenticationFailed as they come."""
    secrets = _secrets(conn)
    options = conn.options or {}
    base = float(options.get("backoff_base", BACKOFF_BASE))
    cap = float(options.get("backoff_cap", BACKOFF_CAP))
    retry_after_cap = float(options.get("retry_after_cap", RETRY_AFTER_CAP))
    try:
        gate = circuit_admit(conn.pk)
    except CircuitOpen as exc:
        conn.refresh_from_db(fields=["unavailable_case_id"])
        if conn.unavailable_case_id is None:
            _report_unavailable(conn, message=exc.message, reason_code="circuit_open")
        raise
    max_attempts = 1 if gate == "probe" else max(1, conn.max_attempts)
    recorder.connection = conn
    last: TransientError | None = None
    tried = 0
    for attempt in range(1, max_attempts + 1):
        run.attempts += 1
        tried += 1
        recorder.reset()
        try:
            value = fn(conn, recorder)
        except AuthenticationFailed as exc:
            error = sanitize(exc.message, secrets)
            circuit_reachable(conn.pk)
            Connection.objects.filter(pk=conn.pk).update(last_failure_at=timezone.now(), last_error=error)
            _report_unavailable(
                conn, reason_code="auth_failed",
                message=f"Connection {conn.code}: the partner refused our credentials during {operation}: {error} "
                        "Replace the credentials (Connections > credentials), then run it again.",
            )
            raise AuthenticationFailed(error, exc.extra) from None
        except PermanentError as exc:
            circuit_reachable(conn.pk)
            raise type(exc)(sanitize(exc.message, secrets), exc.extra) from None
        except TransientError as exc:
            last = exc
            error = sanitize(exc.message, secrets)
            logger.warning("connector %s: %s attempt %s/%s failed: %s", conn.code, operation, attempt, max_attempts,
                           error)
            opened = circuit_failure(conn.pk, error=error)
            if opened or attempt == max_attempts:
                break
            if exc.retry_after is not None:
                if exc.retry_after > retry_after_cap:
                    break  # the partner asks for a long pause: give the work back to the scheduler
                delay = exc.retry_after
            else:
                delay = backoff_delay(attempt, base=base, cap=cap)
            clock.sleep(delay)
            continue
        case_id = circuit_success(conn.pk)
        if case_id is not None:
            _resolve_unavailable(conn, case_id, operation)
        return value
    assert last is not None
    error = sanitize(last.message, secrets)
    conn.refresh_from_db(fields=["circuit_state", "consecutive_failures"])
    message = (f"Connection {conn.code} ({conn.get_partner_kind_display()} {conn.partner_ref}) is unavailable: "
               f"{operation} failed {tried} time(s); "
               f"last error: {error} Circuit: {conn.circuit_state}.")
    _report_unavailable(conn, message=message, reason_code="retries_exhausted")
    raise ConnectorUnavailable(message, {"connection": conn.code, "circuit_state": conn.circuit_state})


def _fallback_for(conn: Connection) -> Connection | None:
    if conn.fallback_id is None:
        return None
    fallback = Connection.objects.filter(pk=conn.fallback_id, active=True).first()
    return fallback


def call(
    *,
    connection: Connection | int,
    operation: str,
    fn: Callable[[Connection, Recorder], T],
    actor=None,
    run: SyncRun | None = None,
    use_fallback: bool = True,
    exclusive_run: bool = False,
) -> CallResult[T]:
    """Run ``fn(connection, recorder)`` against a partner with the rules above; records a ``SyncRun``.

    Returns ``CallResult(value, run)``; ``value`` is None when the run was skipped (another run of the same
    operation in progress, with ``exclusive_run``). Raises ``ConnectorUnavailable`` (retries exhausted or circuit
    open, and no working fallback), ``PermanentError`` / ``AuthenticationFailed`` (not retried).
    """
    conn_id = connection if isinstance(connection, int) else connection.pk
    conn = Connection.objects.get(pk=conn_id)
    if run is None:
        run = SyncRun.objects.create(
            connection=conn, operation=operation, status=SyncRun.Status.RUNNING, started_at=timezone.now(),
            requested_by=actor if getattr(actor, "pk", None) else None,
        )
    elif run.status != SyncRun.Status.RUNNING:
        run.status = SyncRun.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    recorder = Recorder(run=run, connection=conn)
    started = time.monotonic()
    with exclusive(conn.pk, operation) if exclusive_run else _always() as got:
        if not got:
            _finish(run, recorder, SyncRun.Status.SKIPPED, started,
                    error=f"Another {operation} run on {conn.code} is in progress; nothing done.")
            return CallResult(None, run)
        try:
            value, served_by = _route(conn, operation, fn, recorder, run, use_fallback)
        except ApplicationError as exc:  # ConnectorError and configuration errors
            _finish(run, recorder, SyncRun.Status.FAILED, started, error=sanitize(exc.message, _secrets(conn)))
            raise
        except Exception as exc:  # noqa: BLE001 - the run row must not stay "running"; re-raised below
            _finish(run, recorder, SyncRun.Status.FAILED, started,
                    error=f"Internal error ({type(exc).__name__}); see the worker log.")
            raise
    run.served_by = served_by
    run.via_fallback = served_by.pk != conn.pk
    _finish(run, recorder, SyncRun.Status.SUCCEEDED, started)
    return CallResult(value, run)


@contextmanager
def _always() -> Iterator[bool]:
    yield True


def _route(conn: Connection, operation: str, fn, recorder: Recorder, run: SyncRun, use_fallback: bool):
    if not conn.active:
        fallback = _fallback_for(conn) if use_fallback else None
        if fallback is None:
            raise ConnectorUnavailable(f"Connection {conn.code} is disabled.", {"connection": conn.code})
        return _attempts(fallback, operation, fn, recorder, run), fallback
    try:
        return _attempts(conn, operation, fn, recorder, run), conn
    except ConnectorUnavailable as primary_error:
        fallback = _fallback_for(conn) if use_fallback else None
        if fallback is None:
            raise
        logger.warning("connector %s: unavailable, routing %s to fallback %s", conn.code, operation, fallback.code)
        try:
            return _attempts(fallback, operation, fn, recorder, run), fallback
        except ConnectorUnavailable as fallback_error:
            raise ConnectorUnavailable(
                f"{primary_error.message} Fallback {fallback.code} is unavailable too: {fallback_error.message}",
                {"connection": conn.code, "fallback": fallback.code},
            ) from None


def _finish(run: SyncRun, recorder: Recorder, status: str, started: float, *, error: str = "") -> None:
    with transaction.atomic():
        run.status = status
        run.finished_at = timezone.now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.counts = dict(recorder.counts)
        run.bytes = recorder.bytes
        run.error = error
        run.save(update_fields=["status", "finished_at", "duration_ms", "counts", "bytes", "error", "attempts",
                                "served_by", "via_fallback"])
        if status == SyncRun.Status.SUCCEEDED and recorder.received:
            event_emit("connection.documents_received", run, {
                "run_id": run.pk, "connection": run.connection.code, "operation": run.operation,
                "documents": recorder.received,
            }, actor=run.requested_by)
