"""From the outbox to the receivers: one delivery per (subscription, event), then signed POSTs with retries.

Rules
- ``webhook_event_fanout`` is an outbox subscriber: it runs inside the relay's transaction and only writes rows
  (one ``WebhookDelivery`` per matching active subscription, unique by (subscription, event), so relaying an
  event twice never duplicates) and enqueues the sends with ``transaction.on_commit``.
- ``webhook_delivery_send`` makes one attempt. It claims the delivery under a row lock (due, still pending or
  retrying, no attempt in flight) and sets a short lease, commits, POSTs outside any transaction, then records
  the attempt and the outcome under the lock again. A delivered delivery is never sent again unless replayed;
  running the task twice sends once.
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
LEASE = timedelta(seconds=60)  # longer than any attempt can take with TIMEOUT
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
    """One client per thread (per worker process in Celery's prefork pool)."""
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = new_http_client()
    return client


def _enqueue(delivery_id: int, eta: datetime | None = None) -> None:
    from apps.webhooks.tasks import webhook_deliver_task  # the task module imports this one

    if eta is None:
        webhook_deliver_task.delay(delivery_id)
    else:
        webhook_deliver_task.apply_async((delivery_id,), eta=eta)


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


def webhook_event_fanout(event: Event) -> None:
    """Outbox subscriber: one delivery per matching active subscription; sends are enqueued after commit."""
    subs = [s for s in WebhookSubscription.objects.filter(active=True).select_related("legal_entity")
            .defer("secret_ciphertext")
            if s.wants(event.type) and not _names_other_entity(s, event.payload)]
    if not subs:
        return
    done = set(WebhookDelivery.objects.filter(event_id=event.pk, subscription__in=subs)
               .values_list("subscription_id", flat=True))
    body = event_body(event)
    now = timezone.now()
    created: list[int] = []
    for sub in subs:
        if sub.pk in done:
            continue  # relayed before: the unique (subscription, event) is the last guard
        delivery = WebhookDelivery(subscription=sub, event_id=event.pk, event_type=event.type, body=body,
                                   next_attempt_at=now)
        delivery._history_user = None
        delivery._change_reason = f"event {event.type}"
        delivery.save()
        created.append(delivery.pk)
    if created:
        transaction.on_commit(lambda: [_enqueue(pk) for pk in created])


# -- one attempt ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    subscription_id: int
    number: int  # over every sequence: the FinOps-Delivery-Attempt header
    in_sequence: int
    sequence: int
    max_attempts: int
    url: str
    secret: str
    body: bytes
    event_id: str
    event_type: str


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
def _claim(delivery_id: int, now: datetime) -> _Claim | None:
    delivery = (WebhookDelivery.objects.select_for_update(of=("self",)).select_related("subscription")
                .filter(pk=delivery_id).first())
    if delivery is None or delivery.status not in SENDABLE:
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None  # not due yet (an early task, e.g. eager mode ignoring the eta)
    if delivery.locked_until is not None and delivery.locked_until > now:
        return None  # an attempt is in flight
    sub = delivery.subscription
    if not sub.active:
        delivery.finished_at = now
        delivery.last_error = "The subscription was deactivated before this delivery was sent."
        DELIVERY.move(delivery, to=DeliveryStatus.FAILED, actor=None, reason="subscription inactive",
                      also=["finished_at", "last_error"])
        return None
    number = delivery.attempts_total + 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts_total=number, attempt_count=F("attempt_count") + 1, locked_until=now + LEASE,
    )
    return _Claim(
        delivery_id=delivery.pk, subscription_id=sub.pk, number=number, in_sequence=delivery.attempt_count + 1,
        sequence=delivery.sequence, max_attempts=sub.max_attempts, url=sub.url, secret=subscription_secret(sub),
        body=delivery.body.encode(), event_id=str(delivery.event_id), event_type=delivery.event_type,
    )


def _post(claim: _Claim) -> _Result:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "FinOps-Event-Id": claim.event_id,
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


def _record(claim: _Claim, result: _Result, now: datetime) -> tuple[WebhookDelivery, str]:
    """Log the attempt and move the delivery. Returns ``(delivery, outcome)``."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=claim.delivery_id)
        current = delivery.status in SENDABLE and delivery.sequence == claim.sequence
        latest = current and delivery.attempts_total == claim.number
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
        DeliveryAttempt.objects.create(
            delivery_id=claim.delivery_id, number=claim.number, sequence=claim.sequence,
            started_at=result.started_at, duration_ms=result.duration_ms, status_code=result.status_code,
            outcome=outcome, error=error, response_body=result.response_body, next_attempt_at=next_at,
        )
        if not current or (not latest and not result.delivered):
            return delivery, "superseded"  # replayed or re-claimed meanwhile: the newer attempt decides
        delivery.last_status_code = result.status_code
        delivery.last_error = error
        delivery.locked_until = None
        also = ["last_status_code", "last_error", "locked_until"]
        if outcome == DeliveryAttempt.Outcome.RETRY:
            delivery.next_attempt_at = next_at
            if delivery.status == DeliveryStatus.PENDING:
                DELIVERY.move(delivery, to=DeliveryStatus.RETRYING, actor=None,
                              reason=f"attempt {claim.number} failed: {error}"[:100], also=[*also, "next_attempt_at"])
            else:  # still retrying: counters only (not history)
                WebhookDelivery.objects.filter(pk=delivery.pk).update(
                    next_attempt_at=next_at, last_status_code=result.status_code, last_error=error,
                    locked_until=None, updated_at=timezone.now())
            transaction.on_commit(lambda: _enqueue(claim.delivery_id, eta=next_at))
        else:
            delivery.next_attempt_at = None
            delivery.finished_at = now
            to = DeliveryStatus.DELIVERED if result.delivered else DeliveryStatus.FAILED
            why = (f"delivered on attempt {claim.number} (HTTP {result.status_code})" if result.delivered
                   else f"failed on attempt {claim.number}: {error}")
            DELIVERY.move(delivery, to=to, actor=None, reason=why[:100],
                          also=[*also, "next_attempt_at", "finished_at"])
    if outcome == DeliveryAttempt.Outcome.FAILED:
        logger.warning("webhooks: delivery %s (%s) to %s failed: %s", claim.delivery_id, claim.event_type,
                       display_url(claim.url), error)
    return delivery, outcome


def webhook_delivery_send(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Make one attempt if the delivery is due. Returns the delivery, or None when there was nothing to do.

    ``now`` decides what is due and when the next attempt is (tests pass a later time instead of waiting).
    """
    from apps.webhooks.services.health import webhook_subscription_health_check

    now = now or timezone.now()
    claim = _claim(delivery_id, now)
    if claim is None:
        return None
    delivery, outcome = _record(claim, _post(claim), now)
    if outcome in (DeliveryAttempt.Outcome.DELIVERED, DeliveryAttempt.Outcome.FAILED):
        webhook_subscription_health_check(subscription_id=claim.subscription_id,
                                          success=outcome == DeliveryAttempt.Outcome.DELIVERED)
    return delivery


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
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    return delivery


def webhook_deliveries_enqueue_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue deliveries whose attempt is overdue (a lost task, eager mode, a worker that died mid-attempt)."""
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(status__in=SENDABLE, next_attempt_at__lte=now - SWEEP_GRACE)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        _enqueue(pk)
    return len(ids)
