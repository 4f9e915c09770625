"""From the outbox to the receivers: one delivery per (subscription, event), then signed POSTs in batches, with
retries.

Rules
- ``webhook_events_fanout`` is an outbox subscriber that takes a relay batch at once: it runs inside the relay's
  transaction and only writes rows (one ``WebhookDelivery`` per matching active subscription and event, with its
  creation history, ``COPY``-ed in by ``apps.core.bulk``; unique by (subscription, event), so relaying an event
  twice never duplicates) and, on commit, enqueues one send task per endpoint and ``SEND_BATCH`` deliveries.
- ``webhook_deliveries_send`` claims the task's deliveries that are still due, pending or retrying and have no
  attempt in flight, in one statement (``SELECT ... FOR UPDATE SKIP LOCKED``: two workers never claim the same
  delivery, and neither waits for the other), marks them in flight with a lease and commits. It then POSTs them one
  after the other over the thread's keep-alive client, outside any transaction, and records every attempt (a
  ``DeliveryAttempt`` row each, inserted together) and every outcome under the row locks again: status changes
  with their history rows in bulk (``StateMachine.move_many``). A delivered delivery is never sent again unless replayed; running
  a task twice sends once. A batch starts an attempt only while ``ATTEMPT_MAX`` of its lease is left; the deliveries
  it did not reach are released (their claim undone, no attempt counted) and enqueued again.
- 2xx delivered. Network errors, timeouts, 408, 429 and 5xx are retried up to the subscription's
  ``max_attempts`` with exponential backoff and full jitter (``apps.connectors.resilience.backoff_delay``), or
  exactly after ``Retry-After``; other answers (3xx, 4xx) are permanent. Retries are Celery tasks with an ``eta``
  (``next_attempt_at`` is stored); ``webhook_deliveries_enqueue_due`` (beat) picks up any that were lost.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.connectors.errors import sanitize
from apps.connectors.resilience import backoff_delay
from apps.connectors.transports.rest import parse_retry_after
from apps.core.bulk import bulk_create_audited, bulk_insert
from apps.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.core.models import Event
from apps.webhooks.models import (
    DELIVERY,
    SENDABLE,
    DeliveryAttempt,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from apps.webhooks.services.subscriptions import display_url, subscription_secret
from apps.webhooks.signing import signature

logger = logging.getLogger(__name__)

REPLAY = "webhooks.replay_webhookdelivery"
USER_AGENT = "FinOpsConsole-Webhooks/1.0"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
LEASE = timedelta(seconds=60)  # how long a claimed batch is ours
ATTEMPT_MAX = timedelta(seconds=30)  # longer than any one attempt can take with TIMEOUT: none outlives the lease
SEND_BATCH = 500  # deliveries per send task (one endpoint each)
BACKOFF_BASE = 30.0  # seconds: waits are drawn from [0, 30], [0, 60], [0, 120], ... (full jitter)
BACKOFF_CAP = 6 * 3600.0
RETRY_AFTER_MAX = 24 * 3600.0  # a receiver asking for a longer pause fails the delivery (replay it later)
SWEEP_GRACE = timedelta(seconds=60)  # the sweep leaves a due retry this long to its own eta task
MAX_ERROR = 2000
MAX_RESPONSE = 2048
RETRYABLE_STATUS = frozenset({408, 429})

_local = threading.local()


def new_http_client() -> httpx.Client:
    """Keep-alive, no redirects, TCP_NODELAY (headers and body go out at once, no Nagle/delayed-ACK stall)."""
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, headers={"User-Agent": USER_AGENT},
                        transport=transport)


def http_client() -> httpx.Client:
    """One client per thread (per worker process in Celery's prefork pool); it keeps a connection per endpoint."""
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = new_http_client()
    return client


def _enqueue(delivery_ids: list[int], eta: datetime | None = None) -> None:
    from apps.webhooks.tasks import webhook_deliver_task  # the task module imports this one

    if eta is None:
        webhook_deliver_task.delay(delivery_ids)
    else:
        webhook_deliver_task.apply_async((delivery_ids,), eta=eta)


def _enqueue_per_endpoint(deliveries: Iterable[tuple[int, int]]) -> None:
    """One send task per endpoint and ``SEND_BATCH`` deliveries, given ``(subscription_id, delivery_id)`` pairs."""
    by_endpoint: dict[int, list[int]] = defaultdict(list)
    for subscription_id, delivery_id in deliveries:
        by_endpoint[subscription_id].append(delivery_id)
    for ids in by_endpoint.values():
        for start in range(0, len(ids), SEND_BATCH):
            _enqueue(ids[start:start + SEND_BATCH])


# -- the outbox subscriber ---------------------------------------------------------------------------------------

def event_body(event: Event) -> str:
    """The JSON body receivers get; stored on the delivery so that every attempt sends the same bytes."""
    return json.dumps({
        "id": str(event.pk),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "aggregate": {"type": event.aggregate_type, "id": event.aggregate_id},
        "payload": event.payload,
    }, cls=DjangoJSONEncoder, separators=(",", ":"))


def _names_other_entity(sub: WebhookSubscription, payload) -> bool:
    if sub.legal_entity_id is None or not isinstance(payload, dict):
        return False
    named = payload.get("entity")
    return isinstance(named, str) and bool(named) and named != sub.legal_entity.code


def webhook_events_fanout(events: Sequence[Event]) -> None:
    """Outbox subscriber (a batch at once): one delivery per matching active subscription and event, written in
    bulk with their history; the sends are enqueued after commit, one task per endpoint and ``SEND_BATCH``."""
    subs = list(WebhookSubscription.objects.filter(active=True).select_related("legal_entity")
                .defer("secret_ciphertext"))
    wanted = [(event, sub) for event in events for sub in subs
              if sub.wants(event.type) and not _names_other_entity(sub, event.payload)]
    if not wanted:
        return
    done = set(WebhookDelivery.objects.filter(event_id__in={event.pk for event, _ in wanted},
                                              subscription__in={sub.pk for _, sub in wanted})
               .values_list("subscription_id", "event_id"))
    now = timezone.now()
    bodies: dict = {}
    ordered: list[WebhookDelivery] = []
    by_type: dict[str, list[WebhookDelivery]] = defaultdict(list)
    for event, sub in wanted:
        if (sub.pk, event.pk) in done:
            continue  # relayed before: the unique (subscription, event) is the last guard
        body = bodies.get(event.pk)
        if body is None:
            body = bodies[event.pk] = event_body(event)
        delivery = WebhookDelivery(subscription_id=sub.pk, event_id=event.pk, event_type=event.type, body=body,
                                   next_attempt_at=now)
        ordered.append(delivery)
        by_type[event.type].append(delivery)
    for event_type, deliveries in by_type.items():  # the history reason names the event type
        bulk_create_audited(WebhookDelivery, deliveries, actor=None, reason=f"event {event_type}")
    created = [(delivery.subscription_id, delivery.pk) for delivery in ordered]  # sent in event order
    if created:
        transaction.on_commit(lambda: _enqueue_per_endpoint(created))


# -- rows in bulk ------------------------------------------------------------------------------------------------

def _attempts_insert(attempts: list[DeliveryAttempt]) -> None:
    bulk_insert(DeliveryAttempt, attempts)


def _save_grouped(deliveries: list[WebhookDelivery], fields: Sequence[str]) -> None:
    """Save ``fields`` with one UPDATE per group of equal values (a batch that went one way: one statement)."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for delivery in deliveries:
        groups[tuple(getattr(delivery, name) for name in fields)].append(delivery.pk)
    now = timezone.now()
    for values, pks in groups.items():
        WebhookDelivery.objects.filter(pk__in=pks).update(**dict(zip(fields, values, strict=True)), updated_at=now)


def _move_all(moves: list[tuple[WebhookDelivery, str]], *, to: str, also: Sequence[str] = ()) -> None:
    """``DELIVERY.move`` for many locked deliveries at once, each with its reason (the actor: the system)."""
    DELIVERY.move_many([delivery for delivery, _ in moves], to=to, actor=None, also=also,
                       reasons=[reason for _, reason in moves])


# -- a batch of attempts -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Claim:
    delivery: WebhookDelivery  # as claimed (its history fields are written with the outcome)
    number: int  # over every sequence: the FinOps-Delivery-Attempt header
    in_sequence: int
    max_attempts: int
    url: str
    secret: str
    body: bytes

    @property
    def delivery_id(self) -> int:
        return self.delivery.pk

    @property
    def subscription_id(self) -> int:
        return self.delivery.subscription_id

    @property
    def sequence(self) -> int:
        return self.delivery.sequence

    @property
    def event_type(self) -> str:
        return self.delivery.event_type


@dataclass(frozen=True)
class _Result:
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str
    response_body: str
    transient: bool
    retry_after: float | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@transaction.atomic
def _claim(delivery_ids: Sequence[int], now: datetime) -> list[_Claim]:
    """Claim those of the deliveries that are due, sendable and not in flight, skipping rows another worker holds.

    Each claimed delivery counts its attempt and is leased until ``now + LEASE``; a delivery of an inactive
    subscription fails instead. The claims come in the order of ``delivery_ids``.
    """
    deliveries = list(
        WebhookDelivery.objects.select_for_update(skip_locked=True)
        .filter(pk__in=delivery_ids, status__in=SENDABLE)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))  # due (eager mode ignores an eta)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))  # no attempt in flight
    )
    if not deliveries:
        return []
    subs = WebhookSubscription.objects.in_bulk({delivery.subscription_id for delivery in deliveries})
    inactive = [delivery for delivery in deliveries if not subs[delivery.subscription_id].active]
    for delivery in inactive:
        delivery.finished_at = now
        delivery.last_error = "The subscription was deactivated before this delivery was sent."
    _move_all([(delivery, "subscription inactive") for delivery in inactive], to=DeliveryStatus.FAILED,
              also=["finished_at", "last_error"])
    claimed = [delivery for delivery in deliveries if subs[delivery.subscription_id].active]
    if not claimed:
        return []
    WebhookDelivery.objects.filter(pk__in=[delivery.pk for delivery in claimed]).update(
        attempts_total=F("attempts_total") + 1, attempt_count=F("attempt_count") + 1, locked_until=now + LEASE,
    )
    secrets = {pk: subscription_secret(sub) for pk, sub in subs.items() if sub.active}
    position = {pk: i for i, pk in enumerate(delivery_ids)}
    claimed.sort(key=lambda delivery: position[delivery.pk])
    return [
        _Claim(
            delivery=delivery, number=delivery.attempts_total + 1, in_sequence=delivery.attempt_count + 1,
            max_attempts=subs[delivery.subscription_id].max_attempts, url=subs[delivery.subscription_id].url,
            secret=secrets[delivery.subscription_id], body=delivery.body.encode(),
        )
        for delivery in claimed
    ]


def _post(claim: _Claim) -> _Result:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "FinOps-Event-Id": str(claim.delivery.event_id),
        "FinOps-Event-Type": claim.event_type,
        "FinOps-Timestamp": str(timestamp),
        "FinOps-Signature": signature(claim.secret, timestamp, claim.body),
        "FinOps-Delivery-Attempt": str(claim.number),
    }
    started_at = timezone.now()
    started = time.perf_counter()
    status_code, error, answer, transient, retry_after = None, "", b"", True, None
    try:
        with http_client().stream("POST", claim.url, content=claim.body, headers=headers) as response:
            status_code = response.status_code
            for chunk in response.iter_bytes():
                answer += chunk
                if len(answer) >= MAX_RESPONSE:
                    break  # the rest is not read (nor kept)
            if not 200 <= status_code < 300:
                transient = status_code in RETRYABLE_STATUS or status_code >= 500
                reason = response.reason_phrase or ""
                error = f"HTTP {status_code}{' ' + reason if reason else ''}"
                if 300 <= status_code < 400:
                    error += f" (redirect to {response.headers.get('Location', '?')}: update the subscription URL)"
                if status_code in (429, 503):
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    except httpx.TimeoutException:
        error = f"Timed out (connect {TIMEOUT.connect:g} s, read {TIMEOUT.read:g} s)."
    except httpx.UnsupportedProtocol as exc:
        error, transient = f"Unsupported URL: {exc}", False
    except httpx.TransportError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return _Result(
        started_at=started_at, duration_ms=int((time.perf_counter() - started) * 1000), status_code=status_code,
        error=sanitize(error, [claim.secret])[:MAX_ERROR],
        response_body=answer[:MAX_RESPONSE].decode("utf-8", "replace").replace(claim.secret, "***"),
        transient=transient, retry_after=retry_after,
    )


def _outcome(claim: _Claim, result: _Result, now: datetime) -> tuple[str, datetime | None, str]:
    """What the attempt means: ``(outcome, next attempt or None, error as recorded)``."""
    next_at = None
    if result.delivered:
        outcome = DeliveryAttempt.Outcome.DELIVERED
    elif (result.transient and claim.in_sequence < claim.max_attempts
          and (result.retry_after is None or result.retry_after <= RETRY_AFTER_MAX)):
        outcome = DeliveryAttempt.Outcome.RETRY
        delay = result.retry_after if result.retry_after is not None else backoff_delay(
            claim.in_sequence, base=BACKOFF_BASE, cap=BACKOFF_CAP)
        next_at = now + timedelta(seconds=delay)
    else:
        outcome = DeliveryAttempt.Outcome.FAILED
    error = result.error
    if outcome == DeliveryAttempt.Outcome.FAILED and result.transient:
        error = (f"{error} Gave up: the receiver asked to wait {result.retry_after:g} s."
                 if result.retry_after is not None and result.retry_after > RETRY_AFTER_MAX
                 else f"{error} Gave up after {claim.in_sequence} attempts.")[:MAX_ERROR]
    return outcome, next_at, error


def _record(claims: list[_Claim], results: list[_Result | None], now: datetime) -> list[tuple[_Claim, str, str]]:
    """Log the attempts and move the deliveries, under the row locks. A claim without a result (not sent) is
    released. Returns ``(claim, outcome, error)`` per attempt made; ``superseded`` when a replay or a later claim
    decides instead."""
    made: list[tuple[_Claim, str, str]] = []
    with transaction.atomic():
        locked = {pk: (status, sequence, attempts_total) for pk, status, sequence, attempts_total in
                  WebhookDelivery.objects.select_for_update().filter(pk__in=[claim.delivery_id for claim in claims])
                  .order_by("pk").values_list("pk", "status", "sequence", "attempts_total")}
        attempts: list[DeliveryAttempt] = []
        moves: dict[str, list[tuple[WebhookDelivery, str]]] = defaultdict(list)
        still_retrying: list[WebhookDelivery] = []
        retries: list[tuple[int, datetime]] = []
        released: list[int] = []
        for claim, result in zip(claims, results, strict=True):
            if claim.delivery_id not in locked:
                continue  # deleted meanwhile: nothing left to record
            status, sequence, attempts_total = locked[claim.delivery_id]
            current = status in SENDABLE and sequence == claim.sequence
            latest = current and attempts_total == claim.number
            if result is None:
                if latest:
                    released.append(claim.delivery_id)
                continue
            outcome, next_at, error = _outcome(claim, result, now)
            attempts.append(DeliveryAttempt(
                delivery_id=claim.delivery_id, number=claim.number, sequence=claim.sequence,
                started_at=result.started_at, duration_ms=result.duration_ms, status_code=result.status_code,
                outcome=outcome, error=error, response_body=result.response_body, next_attempt_at=next_at,
            ))
            if not current or (not latest and not result.delivered):
                made.append((claim, "superseded", error))  # replayed or re-claimed meanwhile: the newer attempt decides
                continue
            made.append((claim, outcome, error))
            delivery = claim.delivery  # as claimed; its sequence is current, its status may have moved on since
            delivery.status = status
            delivery.last_status_code = result.status_code
            delivery.last_error = error
            delivery.locked_until = None
            delivery.next_attempt_at = next_at
            if outcome == DeliveryAttempt.Outcome.RETRY:
                retries.append((claim.delivery_id, next_at))
                if delivery.status == DeliveryStatus.PENDING:
                    moves[DeliveryStatus.RETRYING].append((delivery, f"attempt {claim.number} failed: {error}"))
                else:  # still retrying: counters only (not history)
                    still_retrying.append(delivery)
            else:
                delivery.finished_at = now
                to = DeliveryStatus.DELIVERED if result.delivered else DeliveryStatus.FAILED
                why = (f"delivered on attempt {claim.number} (HTTP {result.status_code})" if result.delivered
                       else f"failed on attempt {claim.number}: {error}")
                moves[to].append((delivery, why))
        _attempts_insert(attempts)
        counters = ["last_status_code", "last_error", "locked_until", "next_attempt_at"]
        for to, moved in moves.items():
            _move_all(moved, to=to, also=counters if to == DeliveryStatus.RETRYING else [*counters, "finished_at"])
        _save_grouped(still_retrying, counters)
        if released:  # not reached before the lease ran short: undo the claim, send it in another task
            WebhookDelivery.objects.filter(pk__in=released).update(
                attempts_total=F("attempts_total") - 1, attempt_count=F("attempt_count") - 1, locked_until=None)
            transaction.on_commit(lambda: _enqueue(released))
        if retries:
            transaction.on_commit(lambda: [_enqueue([pk], eta=at) for pk, at in retries])
    return made


def webhook_deliveries_send(*, delivery_ids: Sequence[int], now: datetime | None = None) -> dict[str, int]:
    """Make one attempt of each of the deliveries that is due (one endpoint's, ideally: the sends are sequential).

    ``now`` decides what is due and when the next attempts are (tests pass a later time instead of waiting).
    Returns how many attempts ended in each outcome.
    """
    from apps.webhooks.services.health import webhook_subscription_health_check

    now = now or timezone.now()
    deadline = time.monotonic() + (LEASE - ATTEMPT_MAX).total_seconds()
    claims = _claim(delivery_ids, now)
    if not claims:
        return {}
    # The first attempt always runs (every task makes progress); the others only while the lease outlasts them.
    results = [_post(claim) if i == 0 or time.monotonic() < deadline else None for i, claim in enumerate(claims)]
    made = _record(claims, results, now)
    counts: dict[str, int] = defaultdict(int)
    final: dict[int, bool] = {}  # subscription -> every final outcome was a success
    for claim, outcome, error in made:
        counts[outcome] += 1
        if outcome == DeliveryAttempt.Outcome.FAILED:
            logger.warning("webhooks: delivery %s (%s) to %s failed: %s", claim.delivery_id, claim.event_type,
                           display_url(claim.url), error)
        if outcome in (DeliveryAttempt.Outcome.DELIVERED, DeliveryAttempt.Outcome.FAILED):
            final[claim.subscription_id] = (final.get(claim.subscription_id, True)
                                            and outcome == DeliveryAttempt.Outcome.DELIVERED)
    for subscription_id, success in final.items():
        webhook_subscription_health_check(subscription_id=subscription_id, success=success)
    return dict(counts)


def webhook_delivery_send(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Make one attempt if the delivery is due. Returns the delivery, or None when there was nothing to do."""
    if not webhook_deliveries_send(delivery_ids=[delivery_id], now=now):
        return None
    return WebhookDelivery.objects.get(pk=delivery_id)


# -- replay and the safety sweep -----------------------------------------------------------------------------------

@transaction.atomic
def webhook_delivery_replay(*, delivery_id: int, actor, reason: str = "") -> WebhookDelivery:
    """Start a new attempt sequence on the same delivery (same event id and body; a fresh signature)."""
    if actor is not None and not actor.has_perm(REPLAY):
        raise PermissionDenied(f"You may not replay deliveries (needs {REPLAY}).")
    delivery = (WebhookDelivery.objects.select_for_update(of=("self",)).select_related("subscription")
                .filter(pk=delivery_id).first())
    if delivery is None:
        raise NotFound(f"Webhook delivery {delivery_id} does not exist.")
    if not delivery.subscription.active:
        raise ValidationFailed(f"Subscription {delivery.subscription.name} is inactive; activate it, then replay.")
    now = timezone.now()
    if delivery.locked_until is not None and delivery.locked_until > now:
        raise Conflict("An attempt of this delivery is in flight; replay it when it has finished.")
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("This delivery is already queued.")
    delivery.sequence += 1
    delivery.attempt_count = 0
    delivery.next_attempt_at = now
    delivery.finished_at = None
    who = getattr(actor, "username", "system")
    DELIVERY.move(delivery, to=DeliveryStatus.PENDING, actor=actor,
                  reason=(f"replayed by {who}: {reason}" if reason else f"replayed by {who}")[:100],
                  also=["sequence", "attempt_count", "next_attempt_at", "finished_at"])
    logger.info("webhooks: delivery %s replayed by %s (sequence %s)", delivery.pk, who, delivery.sequence)
    transaction.on_commit(lambda: _enqueue([delivery.pk]))
    return delivery


def webhook_deliveries_enqueue_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue deliveries whose attempt is overdue (a lost task, eager mode, a worker that died mid-attempt), one
    task per endpoint and ``SEND_BATCH``. Returns how many."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status__in=SENDABLE, next_attempt_at__lte=now - SWEEP_GRACE)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at").values_list("subscription_id", "pk")[:limit]
    )
    _enqueue_per_endpoint(due)
    return len(due)
