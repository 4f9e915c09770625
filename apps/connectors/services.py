"""Writes for connections, and the entry points domain apps use to reach partners.

Domain apps call ``get_bank_channel(connection)`` / ``get_erp_adapter(...)`` / ``get_expense_source(...)`` and use
the interface methods; every method runs through ``resilience.call`` (timeouts, retries, circuit breaker, fallback,
``connector.unavailable`` case, ``SyncRun``). They never import a transport.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from apps.connectors import resilience
from apps.connectors.channels import adapter_factory, bank_channel_for
from apps.core.crypto import credentials_decrypt, credentials_encrypt
from apps.connectors.errors import PermanentError
from apps.connectors.interfaces import RUNNABLE_OPERATIONS, BankChannel, ErpAdapter, ExpenseSource
from apps.connectors.models import Connection, PartnerKind, SyncRun, Transport
from apps.connectors.resilience import CallResult, Recorder, call
from apps.connectors.transports.sftp import parse_sftp_endpoint
from apps.core.audit import audited_save
from apps.core.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from apps.core.events import event_emit
from apps.core.models import RawDocument

logger = logging.getLogger(__name__)

CHANGE = "connectors.change_connection"
ADD = "connectors.add_connection"
RUN = "connectors.run_connection"
QUEUE = "connectors"


def _require(actor, perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise PermissionDenied(f"You may not do this (needs {perm}).")


# -- the interfaces, resilient -----------------------------------------------------------------------------------

class _Resilient:
    def __init__(self, connection: Connection | int, *, actor=None):
        self.connection = connection if isinstance(connection, Connection) else Connection.objects.get(pk=connection)
        self.actor = actor
        self.last_run: SyncRun | None = None

    def _call(self, operation: str, fn, *, run: SyncRun | None = None, exclusive_run: bool = False) -> CallResult:
        result = call(connection=self.connection, operation=operation, fn=fn, actor=self.actor, run=run,
                      exclusive_run=exclusive_run)
        self.last_run = result.run
        return result


class ResilientBankChannel(_Resilient):
    """The BankChannel domain apps get. ``last_run`` is the SyncRun of the latest call."""

    def send_payment_file(self, doc: RawDocument, *, run: SyncRun | None = None) -> dict[str, Any]:
        def work(conn: Connection, rec: Recorder) -> dict:
            with bank_channel_for(conn, rec) as channel:
                return channel.send_payment_file(doc)

        return self._call("send_payment_file", work, run=run).value or {}

    def fetch_statements(self, *, run: SyncRun | None = None) -> list[RawDocument]:
        def work(conn: Connection, rec: Recorder) -> list[RawDocument]:
            with bank_channel_for(conn, rec) as channel:
                return channel.fetch_statements()

        return self._call("fetch_statements", work, run=run, exclusive_run=True).value or []

    def fetch_status_reports(self, *, run: SyncRun | None = None) -> list[RawDocument]:
        def work(conn: Connection, rec: Recorder) -> list[RawDocument]:
            with bank_channel_for(conn, rec) as channel:
                return channel.fetch_status_reports()

        return self._call("fetch_status_reports", work, run=run, exclusive_run=True).value or []

    def check(self, *, run: SyncRun | None = None) -> dict:
        def work(conn: Connection, rec: Recorder) -> dict:
            with bank_channel_for(conn, rec) as channel:
                return channel.check()

        return self._call("check", work, run=run).value or {}


class _ResilientAdapter(_Resilient):
    def _adapter_call(self, operation: str, *args, run: SyncRun | None = None, exclusive_run: bool = False):
        def work(conn: Connection, rec: Recorder):
            adapter = adapter_factory(conn)(conn, rec)
            try:
                return getattr(adapter, operation)(*args)
            finally:
                close = getattr(adapter, "close", None)
                if close is not None:
                    close()

        return self._call(operation, work, run=run, exclusive_run=exclusive_run).value


class ResilientErpAdapter(_ResilientAdapter):
    def pull_payment_batches(self, *, run: SyncRun | None = None) -> list[RawDocument]:
        return self._adapter_call("pull_payment_batches", run=run, exclusive_run=True) or []

    def pull_master_data(self, *, run: SyncRun | None = None) -> list[RawDocument]:
        return self._adapter_call("pull_master_data", run=run, exclusive_run=True) or []

    def post_journal(self, doc: RawDocument, *, run: SyncRun | None = None) -> dict[str, Any]:
        return self._adapter_call("post_journal", doc, run=run) or {}

    def journal_status(self, journal_id: str, *, run: SyncRun | None = None) -> dict[str, Any]:
        return self._adapter_call("journal_status", journal_id, run=run) or {}

    def push_payment_status(self, doc: RawDocument, *, run: SyncRun | None = None) -> dict[str, Any]:
        return self._adapter_call("push_payment_status", doc, run=run) or {}

    def check(self, *, run: SyncRun | None = None) -> dict:
        return self._adapter_call("check", run=run) or {}


class ResilientExpenseSource(_ResilientAdapter):
    def pull_approved_reports(self, *, run: SyncRun | None = None) -> list[RawDocument]:
        return self._adapter_call("pull_approved_reports", run=run, exclusive_run=True) or []

    def mark_exported(self, report_ids: list[str], state: str = "exported", *,
                      run: SyncRun | None = None) -> dict[str, Any]:
        if state not in ("exported", "paid"):
            raise ValidationFailed(f"state: {state!r} is not exported or paid.", {"field": "state"})
        return self._adapter_call("mark_exported", list(report_ids), state, run=run) or {}

    def check(self, *, run: SyncRun | None = None) -> dict:
        return self._adapter_call("check", run=run) or {}


def _connection(connection: Connection | int | str, kind: str) -> Connection:
    if isinstance(connection, Connection):
        conn = connection
    elif isinstance(connection, int):
        conn = Connection.objects.filter(pk=connection).first()
    else:
        conn = Connection.objects.filter(code=connection).first()
    if conn is None:
        raise NotFound(f"No connection {connection!r}.")
    if conn.partner_kind != kind:
        raise ValidationFailed(f"Connection {conn.code} connects to a {conn.partner_kind}, not a {kind}.")
    return conn


def get_bank_channel(connection: Connection | int | str, *, actor=None) -> BankChannel:
    """The bank channel for a connection (object, id or code)."""
    return ResilientBankChannel(_connection(connection, PartnerKind.BANK), actor=actor)


def get_erp_adapter(connection: Connection | int | str, *, actor=None) -> ErpAdapter:
    return ResilientErpAdapter(_connection(connection, PartnerKind.ERP), actor=actor)


def get_expense_source(connection: Connection | int | str, *, actor=None) -> ExpenseSource:
    return ResilientExpenseSource(_connection(connection, PartnerKind.EXPENSE), actor=actor)


def bank_channel_for_partner(bank_partner_code: str, *, actor=None) -> BankChannel:
    """The active primary connection of a bank partner (one that is nobody's fallback, lowest code first)."""
    conn = (Connection.objects.filter(partner_kind=PartnerKind.BANK, partner_ref=bank_partner_code, active=True)
            .filter(fallback_for__isnull=True).order_by("code").first())
    if conn is None:
        raise NotFound(f"No active connection for bank partner {bank_partner_code}.")
    return ResilientBankChannel(conn, actor=actor)


# -- configuration -------------------------------------------------------------------------------------------------

@dataclass
class UpsertResult:
    obj: Connection
    action: str  # created | updated | unchanged
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _validate(*, partner_kind: str, partner_ref: str, transport: str, endpoint: str, options: dict,
              schedule: str) -> None:
    if partner_kind not in PartnerKind.values:
        raise ValidationFailed(f"partner_kind: {partner_kind!r} is not one of {', '.join(PartnerKind.values)}.",
                               {"field": "partner_kind"})
    if transport not in Transport.values:
        raise ValidationFailed(f"transport: {transport!r} is not one of {', '.join(Transport.values)}.",
                               {"field": "transport"})
    if not partner_ref:
        raise ValidationFailed("partner: a connection names its partner.", {"field": "partner"})
    if partner_kind == PartnerKind.BANK:
        from apps.org.models import BankPartner  # read-only check of the natural key, as config_load does

        if not BankPartner.objects.filter(code=partner_ref).exists():
            raise ValidationFailed(f"partner: no bank partner with code {partner_ref!r}.", {"field": "partner"})
    if not isinstance(options, dict):
        raise ValidationFailed("options: expected a mapping.", {"field": "options"})
    if transport == Transport.SFTP:
        try:
            parse_sftp_endpoint(endpoint)
        except PermanentError as exc:
            raise ValidationFailed(f"endpoint: {exc.message}", {"field": "endpoint"}) from None
    elif transport == Transport.REST:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValidationFailed("endpoint: a REST endpoint is a base URL (https://...).", {"field": "endpoint"})
    elif not endpoint.startswith("/"):
        raise ValidationFailed("endpoint: a directory connection needs an absolute path.", {"field": "endpoint"})
    from apps.connectors.schedule import parse_schedule

    parse_schedule(schedule)


@transaction.atomic
def connection_upsert(
    *, code: str, name: str, partner_kind: str, partner_ref: str, transport: str, endpoint: str,
    options: dict | None = None, schedule: str = "", timeout_seconds: int = 30, rate_limit_per_minute: int | None = None,
    max_attempts: int = 3, failure_threshold: int = 5, cooldown_seconds: int = 60, fallback_code: str | None = None,
    active: bool = True, credentials: dict | None = None, actor=None, reason: str = "",
) -> UpsertResult:
    """Create or update a connection by ``code``. ``credentials`` (optional) replace the stored ones only if
    different; they are never part of ``changes`` (which is shown and logged)."""
    conn = Connection.objects.select_for_update().filter(code=code).first()
    created = conn is None
    _require(actor, ADD if created else CHANGE)
    if not code:
        raise ValidationFailed("code: a connection needs a code.", {"field": "code"})
    options = options or {}
    _validate(partner_kind=partner_kind, partner_ref=partner_ref, transport=transport, endpoint=endpoint,
              options=options, schedule=schedule)
    fallback = None
    if fallback_code:
        fallback = Connection.objects.filter(code=fallback_code).first()
        if fallback is None:
            raise ValidationFailed(f"fallback: no connection {fallback_code!r} (define it first).", {"field": "fallback"})
        if fallback.code == code:
            raise ValidationFailed("fallback: a connection cannot be its own fallback.", {"field": "fallback"})
        if fallback.partner_kind != partner_kind:
            raise ValidationFailed("fallback: it must connect to the same kind of partner.", {"field": "fallback"})
    for name_, value, low in (("timeout_seconds", timeout_seconds, 1), ("max_attempts", max_attempts, 1),
                              ("failure_threshold", failure_threshold, 1), ("cooldown_seconds", cooldown_seconds, 1)):
        if not isinstance(value, int) or value < low:
            raise ValidationFailed(f"{name_}: expected a whole number of at least {low}.", {"field": name_})
    if rate_limit_per_minute is not None and (not isinstance(rate_limit_per_minute, int) or rate_limit_per_minute < 1):
        raise ValidationFailed("rate_limit_per_minute: expected a positive whole number.", {"field": "rate_limit"})
    if created:
        conn = Connection(code=code)
    values = {
        "name": name, "partner_kind": partner_kind, "partner_ref": partner_ref, "transport": transport,
        "endpoint": endpoint, "options": options, "schedule": schedule, "timeout_seconds": timeout_seconds,
        "rate_limit_per_minute": rate_limit_per_minute, "max_attempts": max_attempts,
        "failure_threshold": failure_threshold, "cooldown_seconds": cooldown_seconds, "active": active,
    }
    changes: dict[str, tuple[Any, Any]] = {}
    for key, value in values.items():
        old = getattr(conn, key)
        if created or old != value:
            changes[key] = (None if created else old, value)
            setattr(conn, key, value)
    if created or conn.fallback_id != (fallback.pk if fallback else None):
        changes["fallback"] = (None if created else getattr(conn.fallback, "code", None), fallback_code or None)
        conn.fallback = fallback
    credentials_changed = credentials is not None and (
        created or credentials_decrypt(conn.credentials_ciphertext) != credentials
    )
    if credentials_changed:
        conn.credentials_ciphertext = credentials_encrypt(credentials)
    if not created and not changes and not credentials_changed:
        return UpsertResult(conn, "unchanged")
    why = reason or ("created" if created else "updated")
    if credentials_changed and not created:
        why = f"{why}; credentials replaced"
    audited_save(conn, actor=actor, reason=why)
    event_emit(f"connection.{'created' if created else 'updated'}", conn, {
        "code": conn.code, "changes": sorted(changes), "credentials_replaced": credentials_changed,
    }, actor=actor)
    transaction.on_commit(lambda: _schedule_sync_safely(conn.pk))
    return UpsertResult(conn, "created" if created else "updated", changes)


def _schedule_sync_safely(connection_id: int) -> None:
    from apps.connectors.schedule import connection_schedule_sync

    connection_schedule_sync(connection_id=connection_id)


def _parse_credentials(credentials: Any) -> dict:
    if isinstance(credentials, str):
        try:
            credentials = json.loads(credentials)
        except ValueError:
            raise ValidationFailed("credentials: expected a JSON object.", {"field": "credentials"}) from None
    if not isinstance(credentials, dict) or not credentials:
        raise ValidationFailed("credentials: expected a non-empty mapping of names to values.",
                               {"field": "credentials"})
    for key, value in credentials.items():
        if not isinstance(key, str) or not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ValidationFailed("credentials: names and values must be text.", {"field": "credentials"})
    return credentials


@transaction.atomic
def connection_credentials_replace(*, connection_id: int, credentials: dict | str, actor, reason: str = "") -> Connection:
    """Write-only: replace the stored credentials. Their values never reach history, events, logs or answers."""
    _require(actor, CHANGE)
    conn = Connection.objects.select_for_update().filter(pk=connection_id).first()
    if conn is None:
        raise NotFound(f"Connection {connection_id} does not exist.")
    conn.credentials_ciphertext = credentials_encrypt(_parse_credentials(credentials))
    audited_save(conn, actor=actor, reason=f"credentials replaced{': ' + reason if reason else ''}",
                 update_fields=["credentials_ciphertext"])
    event_emit("connection.credentials_replaced", conn, {"code": conn.code}, actor=actor)
    logger.info("connector %s: credentials replaced by %s", conn.code, getattr(actor, "username", "system"))
    return conn


@transaction.atomic
def connection_set_active(*, connection_id: int, active: bool, actor, reason: str = "") -> Connection:
    _require(actor, CHANGE)
    conn = Connection.objects.select_for_update().filter(pk=connection_id).first()
    if conn is None:
        raise NotFound(f"Connection {connection_id} does not exist.")
    if conn.active == active:
        return conn
    conn.active = active
    audited_save(conn, actor=actor, reason=reason or ("enabled" if active else "disabled"), update_fields=["active"])
    event_emit(f"connection.{'enabled' if active else 'disabled'}", conn, {"code": conn.code}, actor=actor)
    transaction.on_commit(lambda: _schedule_sync_safely(conn.pk))
    return conn


def connection_circuit_reset(*, connection_id: int, actor, reason: str = "") -> Connection:
    _require(actor, CHANGE)
    return resilience.circuit_reset(connection_id=connection_id, actor=actor, reason=reason)


# -- runs ------------------------------------------------------------------------------------------------------------

def runnable_operations(conn: Connection) -> tuple[str, ...]:
    return RUNNABLE_OPERATIONS.get(conn.partner_kind, ())


def _check_operation(conn: Connection, operation: str) -> None:
    allowed = runnable_operations(conn)
    if operation not in allowed:
        raise ValidationFailed(
            f"operation: {operation!r} cannot be started for a {conn.partner_kind} connection; "
            f"choose one of {', '.join(allowed)}.", {"field": "operation"},
        )


@transaction.atomic
def connection_run_request(*, connection_id: int, operation: str, actor) -> SyncRun:
    """Queue a run now (console "run now", API). The row exists at once; a worker does the work after commit."""
    _require(actor, RUN)
    conn = Connection.objects.filter(pk=connection_id).first()
    if conn is None:
        raise NotFound(f"Connection {connection_id} does not exist.")
    _check_operation(conn, operation)
    if not conn.active:
        raise ValidationFailed(f"Connection {conn.code} is disabled; enable it first.")
    run = SyncRun.objects.create(connection=conn, operation=operation, status=SyncRun.Status.QUEUED,
                                 requested_by=actor if getattr(actor, "pk", None) else None)
    from apps.connectors.tasks import sync_run_execute_task

    transaction.on_commit(lambda: sync_run_execute_task.apply_async((run.pk,), queue=QUEUE))
    return run


def _execute(conn: Connection, operation: str, run: SyncRun, actor=None) -> None:
    if conn.partner_kind == PartnerKind.BANK:
        channel = ResilientBankChannel(conn, actor=actor)
    elif conn.partner_kind == PartnerKind.ERP:
        channel = ResilientErpAdapter(conn, actor=actor)
    else:
        channel = ResilientExpenseSource(conn, actor=actor)
    getattr(channel, operation)(run=run)


def sync_run_execute(*, run_id: int) -> SyncRun | None:
    """Do the work of a queued run. Safe to run twice: only a queued run is claimed (under a row lock)."""
    with transaction.atomic():
        run = (SyncRun.objects.select_for_update(of=("self",)).select_related("connection", "requested_by")
               .filter(pk=run_id).first())
        if run is None or run.status != SyncRun.Status.QUEUED:
            return run
        run.status = SyncRun.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    try:
        _execute(run.connection, run.operation, run, run.requested_by)
    except ApplicationError as exc:
        logger.info("connector run %s failed: %s", run.pk, exc.message)  # recorded on the run and, if due, a case
    run.refresh_from_db()
    return run


def connection_operation_run(*, connection_id: int, operation: str, actor=None) -> SyncRun | None:
    """Run an operation now, in this process (scheduled runs, management commands). Returns its SyncRun."""
    conn = Connection.objects.filter(pk=connection_id).first()
    if conn is None or not conn.active:
        return None  # removed or disabled since it was scheduled
    _check_operation(conn, operation)
    run = SyncRun.objects.create(connection=conn, operation=operation, status=SyncRun.Status.QUEUED,
                                 requested_by=actor if getattr(actor, "pk", None) else None)
    return sync_run_execute(run_id=run.pk)
