"""Payment statuses back to the ERP: every status event becomes a ``finops.payment_status.v1`` document pushed
through the entity's ERP adapter (``push_payment_status``), once, in order.

Rules
- ``erp_status_subscriber`` (outbox subscriber) writes one ``ErpStatusPush`` per status event (unique by event, so
  relaying an event twice never sends twice) routed by ``LegalEntity.erp_connection``; an entity without one gets a
  ``skipped`` row (recorded, not an error). The sending is queued after commit.
- Per ERP connection the pushes go out in the order the events happened: ``erp_status_pushes_send`` claims the
  oldest waiting push under its row lock (with a lease, so a second worker or a second run of the task does not
  send it too), builds its document once (kept as an outbound raw document and resent as is), calls the adapter
  outside any transaction, then records the outcome under the lock again.
- The document shows the batch and its instructions as they were when the event happened (their history as of
  the event's time), so a push sent late still tells the truth about its event.
- The ERP unreachable (``ConnectorUnavailable``: the connector framework retried, opened its circuit and its
  ``connector.unavailable`` case) or refusing our credentials (its case too): the push waits and is tried again
  with exponential backoff (30 s doubling to 1 h), never given up; the pushes behind it wait for it. The
  connection recovering (circuit closed, re-enabled) makes it due at once.
- The ERP refusing a document (a permanent error, or an answer other than ``delivered``): the push fails, one
  ``payment.erp_status_failed`` case per connection collects the refusals, and the queue moves on. Retrying the
  case sends the refused documents again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.connectors.errors import AuthenticationFailed, ConnectorUnavailable
from apps.connectors.resilience import backoff_delay
from apps.connectors.services import get_erp_adapter
from apps.core.errors import ApplicationError, RetryFailed
from apps.core.models import RawDocument
from apps.core.money import Money
from apps.core.services import document_store
from apps.exceptions.services import case_open
from apps.payments.models import (
    BatchStatus,
    ErpStatusPush,
    InstructionStatus,
    PaymentBatch,
    PaymentInstruction,
)
from apps.payments.reasons import explain

logger = logging.getLogger(__name__)

SCHEMA = "finops.payment_status.v1"
CASE_KIND = "payment.erp_status_failed"
BATCH_EVENTS = frozenset({
    "payment_batch.received", "payment_batch.pending_approval", "payment_batch.approved",
    "payment_batch.transmitted", "payment_batch.accepted", "payment_batch.partially_accepted",
    "payment_batch.rejected", "payment_batch.cancelled", "payment_batch.settled", "payment_batch.returned",
})
INSTRUCTION_EVENTS = frozenset({
    "payment_instruction.accepted", "payment_instruction.rejected", "payment_instruction.returned",
    "payment_instruction.settled", "payment_instruction.cancelled", "payment_flag.cleared",
})
RECOVERY_EVENTS = frozenset({"connection.circuit_closed", "connection.enabled"})
WAITING = (ErpStatusPush.Status.PENDING, ErpStatusPush.Status.RETRYING)
LEASE = timedelta(minutes=10)  # longer than one adapter call with all its connector-level retries
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
DRAIN_LIMIT = 200  # pushes per task run; a longer queue continues in a fresh task
SWEEP_GRACE = timedelta(seconds=60)


def retry_delay(attempt: int) -> timedelta:
    """30 s, 60 s, 120 s, ... up to an hour. One push per connection is retried at a time, so no jitter is needed."""
    return timedelta(seconds=backoff_delay(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP, jitter=False))


def _enqueue(connection_id: int, eta: datetime | None = None) -> None:
    from apps.payments.tasks import erp_status_push_task  # the task module imports this one

    if eta is None:
        erp_status_push_task.delay(connection_id)
    else:
        erp_status_push_task.apply_async((connection_id,), eta=eta)


class _SendAfterCommit:
    """The on-commit callback that drains one connection's queue; one per connection and transaction."""

    def __init__(self, connection_id: int):
        self.connection_id = connection_id
        self.ran = False  # (test harnesses run callbacks without clearing them)

    def __call__(self) -> None:
        self.ran = True
        _enqueue(self.connection_id)


def _send_after_commit(connection_id: int) -> None:
    # A callback still registered survives exactly as long as one registered now would (see event_emit).
    if any(isinstance(func, _SendAfterCommit) and func.connection_id == connection_id and not func.ran
           for _sids, func, _robust in db_connection.run_on_commit):
        return
    transaction.on_commit(_SendAfterCommit(connection_id))


# --- the outbox subscriber ----------------------------------------------------------------------------------------

def _subject(event) -> tuple[PaymentBatch | None, PaymentInstruction | None]:
    if event.aggregate_type == "payments.paymentbatch":
        return PaymentBatch.objects.select_related("entity").filter(pk=event.aggregate_id).first(), None
    instruction = (PaymentInstruction.objects.select_related("batch__entity")
                   .filter(pk=event.aggregate_id).first())
    return (instruction.batch if instruction else None), instruction


def erp_status_subscriber(event) -> None:
    """One push per payment status event, routed to the entity's ERP; sending is queued after commit."""
    if event.type in RECOVERY_EVENTS:
        _connection_recovered(int(event.aggregate_id))
        return
    if event.type not in BATCH_EVENTS and event.type not in INSTRUCTION_EVENTS:
        return
    if ErpStatusPush.objects.filter(event_id=event.pk).exists():
        return  # relayed before
    batch, instruction = _subject(event)
    if batch is None:
        logger.warning("ERP status: event %s (%s) names no payment we know", event.pk, event.type)
        return
    connection_id = batch.entity.erp_connection_id
    ErpStatusPush.objects.create(
        event_id=event.pk, event_type=event.type, occurred_at=event.created_at, batch=batch,
        instruction=instruction if event.type in INSTRUCTION_EVENTS else None, connection_id=connection_id,
        reason=str((event.payload or {}).get("reason") or "")[:2000],
        status=ErpStatusPush.Status.PENDING if connection_id else ErpStatusPush.Status.SKIPPED,
        last_error="" if connection_id else f"{batch.entity.code} has no ERP connection (LegalEntity.erp_connection).",
    )
    if connection_id:
        _send_after_commit(connection_id)


def _connection_recovered(connection_id: int) -> None:
    waiting = ErpStatusPush.objects.filter(connection_id=connection_id, status__in=WAITING)
    if waiting.update(next_attempt_at=None):
        _send_after_commit(connection_id)


# --- the document -------------------------------------------------------------------------------------------------

def _latest_as_of(history, at: datetime, **filters):
    """The newest history record per object at ``at`` (one query; works on PostgreSQL and SQLite)."""
    latest = (history.objects.filter(history_date__lte=at, **filters).order_by().values("id")
              .annotate(last=Max("history_id")).values("last"))
    return history.objects.filter(history_id__in=latest)


def _amount(amount, currency: str) -> str:
    return str(Money.of(amount, currency, strict=False).amount)


def _instruction_entry(record, push: ErpStatusPush, batch_status: str, batch_reason: str) -> dict:
    status, code = record.status, record.bank_reason_code or ""
    reason = explain(code).text if code or status == InstructionStatus.REJECTED else ""
    if status == InstructionStatus.CANCELLED:
        own = push.instruction_id == record.id and push.reason
        reason = own or getattr(record, "history_change_reason", "") or ""
    elif status in (InstructionStatus.READY, InstructionStatus.HELD) and batch_status in (
            BatchStatus.CANCELLED, BatchStatus.REJECTED):
        status, reason = batch_status, batch_reason  # the batch was stopped before the bank: this is not paid
    return {"end_to_end_id": record.end_to_end_id, "erp_reference": record.erp_reference, "status": status,
            "reason_code": code, "reason": reason, "amount": _amount(record.amount, record.currency),
            "currency": record.currency}


def payment_status_document(push: ErpStatusPush) -> dict:
    """The ``finops.payment_status.v1`` document of a push: the batch, and the instruction the event is about (or
    every instruction of the batch for a batch event), as they were when the event happened."""
    batch = push.batch
    at = push.occurred_at
    batch_record = (PaymentBatch.history.filter(id=batch.pk, history_date__lte=at)
                    .order_by("-history_date", "-history_id").first())
    batch_status = batch_record.status if batch_record is not None else batch.status
    batch_reason = push.reason if push.event_type in ("payment_batch.cancelled", "payment_batch.rejected") else (
        getattr(batch_record, "history_change_reason", "") or "")
    filters = {"batch_id": batch.pk} if push.instruction_id is None else {"id": push.instruction_id}
    records = list(_latest_as_of(PaymentInstruction.history.model, at, **filters).order_by("position", "id"))
    if not records:  # no history as of then (rows written without it): the current state is the best we know
        current = batch.instructions.all() if push.instruction_id is None else batch.instructions.filter(
            pk=push.instruction_id)
        records = list(current.order_by("position", "pk"))
    return {
        "schema": SCHEMA,
        "event_id": str(push.event_id),
        "entity": batch.entity.code,
        "batch": {"id": batch.pk, "erp_reference": batch.erp_reference, "status": batch_status},
        "instructions": [_instruction_entry(r, push, batch_status, batch_reason) for r in records],
        "occurred_at": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def _document_store(push: ErpStatusPush) -> RawDocument:
    content = json.dumps(payment_status_document(push), separators=(",", ":"), ensure_ascii=False).encode()
    document, _created = document_store(
        content=content, source=f"erp:{push.connection.code}", media_type="application/json",
        filename=f"payment-status-{push.event_id}.json", direction=RawDocument.Direction.OUTBOUND,
    )
    return document


# --- sending ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Claim:
    push_id: int
    attempt: int
    connection_id: int


@dataclass(frozen=True)
class _Outcome:
    answer: dict
    error: str
    transient: bool
    run_id: int | None

    @property
    def delivered(self) -> bool:
        return not self.error


@transaction.atomic
def _claim_next(connection_id: int, now: datetime) -> _Claim | None:
    """Lock the connection's oldest waiting push; claim it if it is due and no attempt is in flight."""
    push = (ErpStatusPush.objects.select_for_update(of=("self",))
            .select_related("batch__entity", "connection")
            .filter(connection_id=connection_id, status__in=WAITING).order_by("occurred_at", "pk").first())
    if push is None:
        return None
    if push.locked_until is not None and push.locked_until > now:
        return None  # being sent by another worker
    if push.next_attempt_at is not None and push.next_attempt_at > now:
        return None  # waiting for its retry; the pushes behind it wait too (order)
    if push.raw_document_id is None:
        push.raw_document = _document_store(push)
    push.attempts += 1
    push.locked_until = now + LEASE
    push.save(update_fields=["raw_document", "attempts", "locked_until", "updated_at"])
    return _Claim(push.pk, push.attempts, connection_id)


def _push(claim: _Claim) -> _Outcome:
    document = ErpStatusPush.objects.select_related("raw_document").get(pk=claim.push_id).raw_document
    adapter = None
    try:
        adapter = get_erp_adapter(claim.connection_id)
        answer = adapter.push_payment_status(document)
    except (ConnectorUnavailable, AuthenticationFailed) as exc:  # the connector framework's case is open
        return _Outcome({}, exc.message, True, _run_id(adapter))
    except ApplicationError as exc:
        return _Outcome({}, exc.message, False, _run_id(adapter))
    answer = answer if isinstance(answer, dict) else {"answer": str(answer)[:500]}
    if answer.get("status") != "delivered":
        return _Outcome(answer, f"The ERP did not confirm the delivery; it answered {json.dumps(answer)[:500]}.",
                        False, _run_id(adapter))
    return _Outcome(answer, "", False, _run_id(adapter))


def _run_id(adapter) -> int | None:
    run = getattr(adapter, "last_run", None)
    return run.pk if run is not None else None


def _record(claim: _Claim, outcome: _Outcome, now: datetime) -> str:
    with transaction.atomic():
        push = (ErpStatusPush.objects.select_for_update(of=("self",)).select_related("batch__entity", "connection")
                .get(pk=claim.push_id))
        if push.attempts != claim.attempt or push.status not in WAITING:
            return "superseded"  # claimed again after the lease ran out: the newer attempt decides
        push.locked_until, push.sync_run_id, push.answer = None, outcome.run_id, outcome.answer
        push.last_error = outcome.error[:2000]
        if outcome.delivered:
            push.status, push.delivered_at, push.next_attempt_at = ErpStatusPush.Status.DELIVERED, now, None
        elif outcome.transient:
            push.status = ErpStatusPush.Status.RETRYING
            push.next_attempt_at = now + retry_delay(push.attempts)
            transaction.on_commit(lambda: _enqueue(claim.connection_id, eta=push.next_attempt_at))
        else:
            push.status, push.next_attempt_at = ErpStatusPush.Status.FAILED, None
            case_open(kind=CASE_KIND, subject=push.connection, reason_code="refused",
                      message=f"ERP connection {push.connection.code} refused the payment status "
                              f"{push.event_type} of batch {push.batch.erp_reference} ({push.batch.entity.code}, "
                              f"event {push.event_id}): {outcome.error}")
        push.save(update_fields=["status", "locked_until", "sync_run", "answer", "last_error", "delivered_at",
                                 "next_attempt_at", "updated_at"])
    if not outcome.delivered:
        logger.warning("ERP status push %s (%s) to connection %s: %s", claim.push_id, push.event_type,
                       claim.connection_id, outcome.error)
    return push.status


def erp_status_pushes_send(*, connection_id: int, now: datetime | None = None, limit: int = DRAIN_LIMIT) -> int:
    """Send the connection's due pushes in event order until the queue is empty, one has to wait for its retry,
    or ``limit`` were sent (the rest continue in a fresh task). Safe to run twice, also at once. Returns how many
    were delivered. ``now`` decides what is due (tests pass a later time instead of waiting)."""
    delivered = 0
    for _ in range(limit):
        at = now or timezone.now()
        claim = _claim_next(connection_id, at)
        if claim is None:
            return delivered
        status = _record(claim, _push(claim), at)
        if status == ErpStatusPush.Status.DELIVERED:
            delivered += 1
        elif status != ErpStatusPush.Status.FAILED:
            return delivered  # waiting for a retry (or superseded): the order is kept
    _enqueue(connection_id)
    return delivered


def erp_status_pushes_enqueue_due(*, now: datetime | None = None) -> int:
    """Queue a send for every connection whose next push is overdue (a lost task, eager mode, a dead worker)."""
    now = now or timezone.now()
    waiting = ErpStatusPush.objects.filter(status__in=WAITING)
    overdue = []
    for connection_id in waiting.order_by().values_list("connection_id", flat=True).distinct():
        head = waiting.filter(connection_id=connection_id).order_by("occurred_at", "pk").first()
        due_at = head.next_attempt_at or head.created_at  # the queue's head decides: the others wait behind it
        if due_at <= now - SWEEP_GRACE and (head.locked_until is None or head.locked_until < now):
            overdue.append(connection_id)
    for connection_id in overdue:
        _enqueue(connection_id)
    return len(overdue)


def erp_status_push_retry(case) -> str:
    """Retry handler for ``payment.erp_status_failed`` (subject: the ERP connection): send the refused documents
    again, in event order with whatever else waits."""
    connection_id = int(case.subject_id)
    with transaction.atomic():
        refused = list(ErpStatusPush.objects.select_for_update().filter(
            connection_id=connection_id, status=ErpStatusPush.Status.FAILED))
        for push in refused:
            push.status, push.next_attempt_at = ErpStatusPush.Status.PENDING, None
            push.save(update_fields=["status", "next_attempt_at", "updated_at"])
    erp_status_pushes_send(connection_id=connection_id)
    left = ErpStatusPush.objects.filter(pk__in=[p.pk for p in refused]).exclude(
        status=ErpStatusPush.Status.DELIVERED).order_by("occurred_at", "pk")
    stuck = left.first()
    if stuck is not None:
        raise RetryFailed(f"{left.count()} of {len(refused)} status document(s) not delivered; "
                          f"{stuck.event_type} of batch {stuck.batch.erp_reference}: {stuck.last_error}")
    return f"{len(refused)} status document(s) delivered"
