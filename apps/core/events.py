"""Transactional outbox.

``event_emit`` writes an :class:`Event` row inside the caller's transaction, so an event exists if and only if
the change it describes was committed. ``outbox_relay`` hands unpublished events to the registered subscribers
and marks them published; rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` so two relays running at
once never hand the same event out twice, and a published event is never relayed again.

Subscribers are registered by apps (``subscribe``). A subscriber must only write rows in the relay's transaction
(e.g. one webhook delivery per subscription, unique by event id) and never do network I/O itself: work that leaves
the database is queued with ``transaction.on_commit``. If it raises, the event's writes (and its on-commit work)
are rolled back and the event stays unpublished for the next relay.

A subscriber takes one event; one that writes its rows in bulk may take a relay batch's events at once instead
(``subscribe(name, func, batch=True)``; the list is oldest first). The relay hands a batch to every subscriber in
one savepoint and marks it published with one statement; when a subscriber raises, the savepoint is rolled back
and the batch is handed out again one event at a time, so that only the failing event stays unpublished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from django.db import connection, transaction
from django.db.models import F, Model
from django.utils import timezone

from apps.core.context import current_request_id
from apps.core.models import Event

logger = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
BatchSubscriber = Callable[[Sequence[Event]], None]
_subscribers: dict[str, BatchSubscriber] = {}


def subscribe(name: str, subscriber: Subscriber | BatchSubscriber, *, batch: bool = False) -> None:
    """Register ``subscriber``: called with each event, or with a batch's list of events when ``batch`` is true."""
    _subscribers[name] = subscriber if batch else _one_by_one(subscriber)


def _one_by_one(subscriber: Subscriber) -> BatchSubscriber:
    def call(events: Sequence[Event]) -> None:
        for event in events:
            subscriber(event)

    return call


def unsubscribe(name: str) -> None:
    _subscribers.pop(name, None)


def event_emit(event_type: str, aggregate: Model, payload: dict | None = None, *, actor=None) -> Event:
    """Record a domain event in the current transaction. Must be called inside ``transaction.atomic``."""
    if not connection.in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction that makes the change")
    event = Event.objects.create(
        type=event_type,
        aggregate_type=aggregate._meta.label_lower,
        aggregate_id=str(aggregate.pk),
        payload=payload or {},
        actor=actor if getattr(actor, "pk", None) else None,
        request_id=current_request_id(),
    )
    if not any(func is _relay_soon for _sids, func, _robust in connection.run_on_commit):
        transaction.on_commit(_relay_soon)  # once per transaction, however many events it emits
    return event


def _relay_soon() -> None:
    from apps.core.tasks import outbox_relay_task  # the task module imports this one

    outbox_relay_task.delay()


def outbox_relay(*, batch_size: int = 500) -> int:
    """Publish up to ``batch_size`` unpublished events, oldest first. Returns how many were published."""
    with transaction.atomic():
        # Events that failed before sink behind fresh ones, so one poisoned event never blocks the rest.
        qs = Event.objects.filter(published_at__isnull=True).order_by("attempts", "created_at")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        events = list(qs[:batch_size])
        if len(events) > 1:
            try:
                with transaction.atomic():
                    _hand_out(events)
                return len(events)
            except Exception:  # noqa: BLE001 - a subscriber failed: find the event, one at a time, below
                logger.warning("outbox: a subscriber failed on a batch of %s events; relaying them one by one",
                               len(events))
        published = 0
        for event in events:
            try:
                with transaction.atomic():
                    _hand_out([event])
                published += 1
            except Exception as exc:  # noqa: BLE001 - one bad subscriber must not stop the relay; it is recorded
                logger.exception("outbox: event %s (%s) not published", event.pk, event.type)
                Event.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1, last_error=str(exc)[:2000])
    return published


def _hand_out(events: list[Event]) -> None:
    """Every subscriber gets the events, then they are marked published (in the caller's savepoint)."""
    for subscriber in list(_subscribers.values()):
        subscriber(events)
    Event.objects.filter(pk__in=[event.pk for event in events]).update(
        published_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
    )
