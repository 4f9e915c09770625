"""Deliveries in batches: fan-out in bulk, one send task per endpoint, batch claims that never overlap, every
attempt and status change recorded when the outcomes of a batch differ, the lease never outrun."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.core import events
from apps.core.events import event_emit, outbox_relay
from apps.core.models import Event
from apps.webhooks.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from apps.webhooks.services import webhook_deliveries_send
from apps.webhooks.services import delivery as delivery_service

OK = (200, {}, b"ok")


@pytest.fixture
def queued(monkeypatch):
    """The send tasks the code enqueues, recorded instead of run: a list of (delivery ids, eta)."""
    calls: list[tuple[list[int], object]] = []
    monkeypatch.setattr(delivery_service, "_enqueue", lambda ids, eta=None: calls.append((list(ids), eta)))
    return calls


def _emit(entity, count: int, event_type: str = "case.opened") -> list[Event]:
    with transaction.atomic():
        return [event_emit(event_type, entity, {"n": n}) for n in range(count)]


def _together(*targets) -> None:
    """Run the functions in threads at once (each with its own database connection) and wait for them."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def _delivery_ids(events_: list[Event]) -> list[int]:
    by_event = dict(WebhookDelivery.objects.values_list("event_id", "pk"))
    return [by_event[event.pk] for event in events_]


def test_the_relay_writes_a_batch_of_deliveries_with_history_and_queues_one_task_per_endpoint(
        db, subscribe, entity_a, queued, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    first, _ = subscribe("first")
    second, _ = subscribe("second")
    emitted = _emit(entity_a, 30)
    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(10):
        assert outbox_relay() >= 30  # one batch: a fixed number of statements, whatever its size

    deliveries = WebhookDelivery.objects.all()
    assert deliveries.count() == 60
    assert {(d.subscription_id, d.status, d.attempts_total) for d in deliveries} == {
        (first.pk, DeliveryStatus.PENDING, 0), (second.pk, DeliveryStatus.PENDING, 0)}
    assert set(WebhookDelivery.history.values_list("history_type", "history_change_reason", "status",
                                                   "history_user")) == {("+", "event case.opened", "pending", None)}
    assert WebhookDelivery.history.count() == 60
    # one task per endpoint, its deliveries in event order; none per delivery
    expected = [[WebhookDelivery.objects.get(subscription=sub, event_id=event.pk).pk for event in emitted]
                for sub in (first, second)]
    assert sorted(queued) == sorted((ids, None) for ids in expected)


def test_a_batch_where_one_delivery_fails_records_every_attempt_and_status_change(
        db, subscribe, entity_a, receiver, queued, django_capture_on_commit_callbacks):
    subscribe(max_attempts=3)
    emitted = _emit(entity_a, 5)
    outbox_relay()
    ids = _delivery_ids(emitted)
    receiver.plan.extend([OK, (503, {}, b"busy"), OK, (400, {}, b'{"error": "no"}'), OK])
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        counts = webhook_deliveries_send(delivery_ids=ids, now=now)

    assert counts == {"delivered": 3, "retry": 1, "failed": 1}
    assert receiver.event_ids() == [str(e.pk) for e in emitted]  # sent in the task's order, one request each
    rows = {d.pk: d for d in WebhookDelivery.objects.filter(pk__in=ids)}
    assert [rows[pk].status for pk in ids] == ["delivered", "retrying", "delivered", "failed", "delivered"]
    assert all(d.locked_until is None and d.attempts_total == 1 for d in rows.values())
    assert [(a.delivery_id, a.number, a.status_code, a.outcome) for a in
            DeliveryAttempt.objects.filter(delivery__in=ids).order_by("delivery_id")] == [
        (ids[0], 1, 200, "delivered"), (ids[1], 1, 503, "retry"), (ids[2], 1, 200, "delivered"),
        (ids[3], 1, 400, "failed"), (ids[4], 1, 200, "delivered")]
    retrying, failed = rows[ids[1]], rows[ids[3]]
    assert retrying.next_attempt_at == now + timedelta(seconds=30)  # the fake clock's jitter: the bound
    assert retrying.last_status_code == 503 and retrying.finished_at is None
    assert failed.finished_at == now and failed.last_error == "HTTP 400 Bad Request" and failed.next_attempt_at is None
    assert [(pk, at) for (pks, at) in queued for pk in pks] == [(ids[1], retrying.next_attempt_at)]

    def timeline(pk):
        return list(WebhookDelivery.history.filter(id=pk).order_by("history_id")
                    .values_list("history_type", "status", "history_change_reason", "history_user"))

    assert timeline(ids[0]) == [("+", "pending", "event case.opened", None),
                                ("~", "delivered", "delivered on attempt 1 (HTTP 200)", None)]
    assert timeline(ids[1]) == [("+", "pending", "event case.opened", None),
                                ("~", "retrying", "attempt 1 failed: HTTP 503 Service Unavailable", None)]
    assert timeline(ids[3]) == [("+", "pending", "event case.opened", None),
                                ("~", "failed", "failed on attempt 1: HTTP 400 Bad Request", None)]

    # the retry, when due: delivered, and its history goes on
    assert webhook_deliveries_send(delivery_ids=ids, now=retrying.next_attempt_at) == {"delivered": 1}
    assert [s for _t, s, _r, _u in timeline(ids[1])] == ["pending", "retrying", "delivered"]
    assert len(receiver.requests) == 6


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batch_claims_never_get_the_same_delivery_and_never_wait(subscribe, entity_a, queued):
    subscribe()
    ids = _delivery_ids(_emit(entity_a, 40))  # relayed on commit; the sends are only recorded (queued)
    now = timezone.now()
    first_holds_locks = threading.Event()
    second_done = threading.Event()
    claimed: dict[str, list[int]] = {}

    def first():
        try:
            with transaction.atomic():  # a worker between its claim and its commit: the row locks are held
                claimed["first"] = [c.delivery_id for c in delivery_service._claim(ids[:25], now)]
                first_holds_locks.set()
                claimed["second finished meanwhile"] = [second_done.wait(20)]
        finally:
            connection.close()

    def second():
        try:
            assert first_holds_locks.wait(20)
            claimed["second"] = [c.delivery_id for c in delivery_service._claim(ids, now)]
            second_done.set()
        finally:
            connection.close()

    _together(first, second)

    assert claimed["second finished meanwhile"] == [True]  # SKIP LOCKED: the second claim did not wait
    assert claimed["first"] == ids[:25]
    assert claimed["second"] == ids[25:]
    assert delivery_service._claim(ids, now) == []  # every one is in flight now
    assert set(WebhookDelivery.objects.filter(pk__in=ids).values_list("attempts_total", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_workers_sending_the_same_batch_at_once_send_each_delivery_once(subscribe, entity_a, receiver, queued):
    subscribe()
    emitted = _emit(entity_a, 60)
    ids = _delivery_ids(emitted)
    start = threading.Barrier(4)

    def worker():
        try:
            start.wait(20)
            webhook_deliveries_send(delivery_ids=ids)
        finally:
            connection.close()

    _together(worker, worker, worker, worker)

    assert sorted(receiver.event_ids()) == sorted(str(e.pk) for e in emitted)  # each event exactly once
    assert set(WebhookDelivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"delivered"}
    assert DeliveryAttempt.objects.filter(delivery__in=ids).count() == 60


def test_deliveries_a_batch_cannot_reach_within_its_lease_are_released_and_sent_by_the_next_task(
        db, subscribe, entity_a, receiver, monkeypatch, django_capture_on_commit_callbacks):
    subscribe()
    emitted = _emit(entity_a, 4)
    outbox_relay()
    ids = _delivery_ids(emitted)
    monkeypatch.setattr(delivery_service, "ATTEMPT_MAX", delivery_service.LEASE)  # no time for a second attempt

    with django_capture_on_commit_callbacks() as callbacks:
        assert webhook_deliveries_send(delivery_ids=ids) == {"delivered": 1}
    rows = {d.pk: d for d in WebhookDelivery.objects.filter(pk__in=ids)}
    assert rows[ids[0]].status == DeliveryStatus.DELIVERED
    for pk in ids[1:]:  # released: no attempt counted, nothing in flight, still due
        assert (rows[pk].status, rows[pk].attempts_total, rows[pk].attempt_count, rows[pk].locked_until) == (
            DeliveryStatus.PENDING, 0, 0, None)
    assert DeliveryAttempt.objects.filter(delivery__in=ids).count() == 1

    with django_capture_on_commit_callbacks(execute=True):  # the re-queued tasks run (eager), one attempt each
        for callback in callbacks:
            callback()
    assert receiver.event_ids() == [str(e.pk) for e in emitted]
    assert [r["headers"]["FinOps-Delivery-Attempt"] for r in receiver.requests] == ["1", "1", "1", "1"]
    assert set(WebhookDelivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"delivered"}


@pytest.fixture
def poisoned():
    """Another subscriber, which fails on the events whose ids are put in the returned set."""
    ids: set = set()

    def subscriber(event):
        if event.pk in ids:
            raise ValueError("cannot handle this one")

    events.subscribe("poisoned", subscriber)
    yield ids
    events.unsubscribe("poisoned")


def test_a_poisoned_event_in_a_relay_batch_keeps_the_others_deliveries_once(db, subscribe, entity_a, queued,
                                                                             poisoned):
    subscribe()
    emitted = _emit(entity_a, 6)
    Event.objects.update(published_at=None, attempts=0)
    poisoned.add(emitted[2].pk)

    outbox_relay()  # the batch fails as a whole, then goes out event by event

    bad = Event.objects.get(pk=emitted[2].pk)
    assert bad.published_at is None and bad.attempts == 1 and "cannot handle" in bad.last_error
    others = [e.pk for e in emitted if e.pk != bad.pk]
    assert not Event.objects.filter(pk__in=others, published_at__isnull=True).exists()
    assert sorted(WebhookDelivery.objects.values_list("event_id", flat=True)) == sorted(others)
    assert WebhookDelivery.history.count() == 5  # the rolled-back batch left no history either
