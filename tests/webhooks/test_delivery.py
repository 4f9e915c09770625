"""Fan-out from the outbox, signed POSTs to a real local receiver, retries, permanent failures, replay."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core.events import event_emit, outbox_relay
from apps.core.models import Event
from apps.webhooks.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from apps.webhooks.services import (
    webhook_deliveries_enqueue_due,
    webhook_delivery_replay,
    webhook_delivery_send,
    webhook_subscription_set_active,
)
from apps.webhooks.services import delivery as delivery_service
from apps.webhooks.tasks import webhook_deliver_task


def _send_until_final(delivery: WebhookDelivery, *, limit: int = 20) -> list[timezone.datetime]:
    """Make every attempt as soon as it is due, without waiting: pass its due time as ``now``."""
    due_times = []
    for _ in range(limit):
        delivery.refresh_from_db()
        if delivery.status not in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING):
            return due_times
        due_times.append(delivery.next_attempt_at)
        assert webhook_delivery_send(delivery_id=delivery.pk, now=delivery.next_attempt_at) is not None
    raise AssertionError("did not finish")


def test_matching_subscriptions_get_one_delivery_each(db, subscribe, relay_event, entity_a, entity_b):
    cases, _ = subscribe("cases", event_types=["case.*"])
    everything, _ = subscribe("all", event_types=["*"])
    exact, _ = subscribe("exact", event_types=["case.resolved"])
    de_only, _ = subscribe("de-only", event_types=["case.*"], legal_entity_code="DE01")
    off, _ = subscribe("off", event_types=["*"], active=False)

    opened_us = relay_event("case.opened", {"entity": "US01"})
    opened_de = relay_event("case.opened", {"entity": "DE01"})
    no_entity = relay_event("case.opened", {"entity": None})
    statement = relay_event("statement.received", {"entity": "DE01"})

    def targets(event):
        return set(WebhookDelivery.objects.filter(event_id=event.pk).values_list("subscription__name", flat=True))

    assert targets(opened_us) == {"cases", "all"}
    assert targets(opened_de) == {"cases", "all", "de-only"}
    assert targets(no_entity) == {"cases", "all", "de-only"}
    assert targets(statement) == {"all"}
    assert not WebhookDelivery.objects.filter(subscription__in=[exact, off]).exists()
    body = json.loads(WebhookDelivery.objects.get(event_id=opened_de.pk, subscription=cases).body)
    assert body == {
        "id": str(opened_de.pk), "type": "case.opened", "created_at": opened_de.created_at.isoformat(),
        "aggregate": {"type": "org.legalentity", "id": str(entity_a.pk)}, "payload": {"entity": "DE01"},
    }


def test_relaying_the_same_event_twice_creates_one_delivery(db, subscribe, relay_event):
    sub, _ = subscribe()
    event = relay_event("case.opened")
    Event.objects.filter(pk=event.pk).update(published_at=None)  # as if the first relay's commit was lost
    assert outbox_relay() == 1
    assert WebhookDelivery.objects.filter(event_id=event.pk).count() == 1
    assert WebhookDelivery.objects.get(event_id=event.pk).subscription == sub


def test_relay_enqueues_the_send_after_commit_and_the_receiver_gets_a_signed_post(
        db, subscribe, entity_a, receiver, receiver_snippet, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the relay, then the eager delivery task
        _sub, secret = subscribe()
        with transaction.atomic():
            event = event_emit("case.opened", entity_a, {"entity": "DE01", "message": "x"})
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers, body = request["headers"], request["body"]
    assert headers["Content-Type"] == "application/json"
    assert headers["FinOps-Event-Id"] == str(event.pk)
    assert headers["FinOps-Event-Type"] == "case.opened"
    assert headers["FinOps-Delivery-Attempt"] == "1"
    assert abs(int(headers["FinOps-Timestamp"]) - time.time()) < 5
    assert json.loads(body)["payload"] == {"entity": "DE01", "message": "x"}
    verify = receiver_snippet["verify"]
    assert verify(secret, headers, body) is True
    assert verify("whsec_wrong", headers, body) is False
    assert verify(secret, headers, body + b" ") is False
    assert verify(secret, headers, body, now=int(headers["FinOps-Timestamp"]) + 301) is False
    seen: set = set()
    assert receiver_snippet["handle"](secret, headers, body, seen) == 200
    assert receiver_snippet["handle"](secret, headers, body, seen) == 200 and seen == {str(event.pk)}
    assert WebhookDelivery.objects.get(event_id=event.pk).status == DeliveryStatus.DELIVERED


def test_receiver_failing_three_times_gets_the_event_on_the_fourth_try_exactly_once(db, subscribe, relay_event,
                                                                                    receiver):
    sub, secret = subscribe()
    receiver.fail(3, status=503)
    event = relay_event("case.opened")
    delivery = WebhookDelivery.objects.get(event_id=event.pk)
    due = _send_until_final(delivery)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [r["status"] for r in receiver.requests] == [503, 503, 503, 200]
    assert set(receiver.event_ids()) == {str(event.pk)}
    assert receiver.event_ids(ok_only=True) == [str(event.pk)]
    assert [r["headers"]["FinOps-Delivery-Attempt"] for r in receiver.requests] == ["1", "2", "3", "4"]
    attempts = list(delivery.attempts.order_by("number"))
    assert [(a.number, a.status_code, a.outcome) for a in attempts] == [
        (1, 503, "retry"), (2, 503, "retry"), (3, 503, "retry"), (4, 200, "delivered")]
    assert attempts[0].error == "HTTP 503 Service Unavailable" and attempts[0].response_body == "down"
    # exponential backoff with full jitter (the fake clock draws the upper bound): 30 s, 60 s, 120 s
    gaps = [(b - a).total_seconds() for a, b in zip(due, due[1:])]
    assert gaps == [30.0, 60.0, 120.0]
    # delivered: never sent again, however often the task runs
    assert webhook_delivery_send(delivery_id=delivery.pk, now=timezone.now() + timedelta(days=1)) is None
    webhook_deliver_task.delay(delivery.pk)
    assert len(receiver.requests) == 4
    assert list(delivery.history.order_by("history_id").values_list("status", flat=True)) == [
        "pending", "retrying", "delivered"]


def test_a_400_is_permanent(db, subscribe, relay_event, receiver):
    subscribe()
    receiver.fail(1, status=400, body=b'{"error": "unknown field"}')
    event = relay_event("case.opened")
    delivery = WebhookDelivery.objects.get(event_id=event.pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None and delivery.last_status_code == 400
    assert webhook_delivery_send(delivery_id=delivery.pk, now=timezone.now() + timedelta(days=1)) is None
    assert len(receiver.requests) == 1
    attempt = delivery.attempts.get()
    assert (attempt.outcome, attempt.status_code, attempt.response_body) == ("failed", 400,
                                                                             '{"error": "unknown field"}')


def test_transient_failures_give_up_after_max_attempts(db, subscribe, relay_event, receiver):
    subscribe(max_attempts=3)
    receiver.fail(5, status=500)
    delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    _send_until_final(delivery)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert len(receiver.requests) == 3
    assert delivery.last_error == "HTTP 500 Internal Server Error Gave up after 3 attempts."


def test_network_error_is_retried(db, subscribe, relay_event):
    subscribe(url="http://127.0.0.1:9/nothing-listens-here")
    delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    attempt = delivery.attempts.get()
    assert delivery.status == DeliveryStatus.RETRYING and attempt.status_code is None
    assert attempt.error.startswith("ConnectError")


def test_429_with_retry_after_schedules_the_retry_no_earlier(db, subscribe, relay_event, receiver):
    subscribe()
    receiver.fail(1, status=429, headers={"Retry-After": "120"})
    delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    now = timezone.now()
    webhook_delivery_send(delivery_id=delivery.pk, now=now)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.next_attempt_at == now + timedelta(seconds=120)
    assert delivery.attempts.get().next_attempt_at == now + timedelta(seconds=120)
    assert webhook_delivery_send(delivery_id=delivery.pk, now=now + timedelta(seconds=119)) is None
    assert len(receiver.requests) == 1
    webhook_delivery_send(delivery_id=delivery.pk, now=now + timedelta(seconds=120))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and len(receiver.requests) == 2


def test_an_attempt_in_flight_is_not_sent_twice(db, subscribe, relay_event, receiver):
    subscribe()
    delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    claims = delivery_service._claim([delivery.pk], timezone.now())  # a worker claimed it and is sending
    assert [claim.delivery_id for claim in claims] == [delivery.pk]
    assert webhook_delivery_send(delivery_id=delivery.pk) is None  # a second run of the task
    assert receiver.requests == []
    # the worker died: after the lease the sweep enqueues it again and it is sent once
    later = timezone.now() + delivery_service.LEASE + timedelta(seconds=1)
    assert webhook_deliveries_enqueue_due(now=later) == 1  # (the eager task runs now: lease still held, no-op)
    assert receiver.requests == []
    webhook_delivery_send(delivery_id=delivery.pk, now=later)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and len(receiver.requests) == 1
    assert delivery.attempts_total == 2 and delivery.attempts.get().number == 2


def test_replay_sends_the_same_event_id_again_and_is_in_history(db, subscribe, relay_event, receiver, admin_user):
    subscribe()
    event = relay_event("case.opened")
    delivery = WebhookDelivery.objects.get(event_id=event.pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    webhook_delivery_replay(delivery_id=delivery.pk, actor=admin_user, reason="receiver lost its data")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.sequence, delivery.attempt_count) == (DeliveryStatus.PENDING, 2, 0)
    webhook_delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert receiver.event_ids() == [str(event.pk), str(event.pk)]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert [r["headers"]["FinOps-Delivery-Attempt"] for r in receiver.requests] == ["1", "2"]
    assert list(delivery.attempts.values_list("number", "sequence")) == [(1, 1), (2, 2)]
    replay = delivery.history.get(status=DeliveryStatus.PENDING, sequence=2)
    assert replay.history_user == admin_user
    assert replay.history_change_reason == f"replayed by {admin_user.username}: receiver lost its data"


def test_deactivated_subscription_gets_no_new_deliveries_and_queued_ones_fail(db, subscribe, relay_event,
                                                                               receiver, admin_user):
    sub, _ = subscribe()
    queued = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    webhook_subscription_set_active(subscription_id=sub.pk, active=False, actor=admin_user, reason="receiver retired")
    later = relay_event("case.resolved")
    assert not WebhookDelivery.objects.filter(event_id=later.pk).exists()
    assert webhook_delivery_send(delivery_id=queued.pk) is None
    queued.refresh_from_db()
    assert queued.status == DeliveryStatus.FAILED and receiver.requests == []
    assert "deactivated" in queued.last_error


@pytest.mark.parametrize("status,retried", [(408, True), (502, True), (301, False), (404, False), (401, False)])
def test_status_classification(db, subscribe, relay_event, receiver, status, retried):
    subscribe()
    receiver.fail(1, status=status, headers={"Location": "https://elsewhere.example/"} if status == 301 else None)
    delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == (DeliveryStatus.RETRYING if retried else DeliveryStatus.FAILED)
    assert delivery.attempts.get().outcome == (DeliveryAttempt.Outcome.RETRY if retried else "failed")


def test_long_answers_are_kept_to_2_kb(db, subscribe, relay_event, receiver):
    subscribe()
    receiver.fail(1, status=500, body=b"x" * 100_000)
    delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    assert len(delivery.attempts.get().response_body) == 2048
