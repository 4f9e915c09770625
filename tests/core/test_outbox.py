import threading

import pytest
from django.db import connection, transaction

from apps.core import events
from apps.core.events import event_emit, outbox_relay
from apps.core.models import Event
from apps.org.models import LegalEntity
from apps.org.services import entity_upsert


@pytest.fixture
def collected():
    seen = []
    events.subscribe("test-collector", lambda event: seen.append(event.pk))
    yield seen
    events.unsubscribe("test-collector")


def test_change_and_event_commit_together(db):
    entity_upsert(code="DE01", name="Acme GmbH", country="DE", base_currency="EUR")
    event = Event.objects.get(type="org.entity.created")
    assert event.aggregate_type == "org.legalentity"
    assert event.aggregate_id == str(LegalEntity.objects.get(code="DE01").pk)


def test_rolled_back_change_leaves_no_event(db):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            entity_upsert(code="DE01", name="Acme GmbH", country="DE", base_currency="EUR")
            assert Event.objects.filter(type="org.entity.created").count() == 1
            raise RuntimeError("boom after the change")
    assert not LegalEntity.objects.exists()
    assert not Event.objects.exists()


def test_event_emit_outside_a_transaction_is_refused(db, entity_a):
    # pytest-django wraps the test in a transaction; leave it to check the guard against autocommit mode.
    assert connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            event_emit("x.happened", entity_a)
    finally:
        connection.in_atomic_block = True


def test_relay_publishes_once_and_twice_is_a_no_op(db, entity_a, collected):
    with transaction.atomic():
        first = event_emit("entity.checked", entity_a, {"n": 1})
        second = event_emit("entity.checked", entity_a, {"n": 2})
    Event.objects.update(published_at=None)  # the eager on_commit relay may have run already; start clean
    collected.clear()
    assert outbox_relay() == Event.objects.count()
    assert outbox_relay() == 0
    assert {first.pk, second.pk} <= set(collected)
    assert len(collected) == len(set(collected))
    assert not Event.objects.filter(published_at__isnull=True).exists()


def test_failing_subscriber_keeps_event_unpublished_and_does_not_block_others(db, entity_a):
    with transaction.atomic():
        bad = event_emit("entity.poison", entity_a)
        good = event_emit("entity.fine", entity_a)
    Event.objects.update(published_at=None, attempts=0)

    def picky(event):
        if event.type == "entity.poison":
            raise ValueError("receiver rejected it")

    events.subscribe("picky", picky)
    try:
        outbox_relay()
    finally:
        events.unsubscribe("picky")
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.published_at is None and bad.attempts == 1 and "receiver rejected it" in bad.last_error
    assert good.published_at is not None


def test_a_batch_subscriber_gets_each_relay_batch_oldest_first(db, entity_a, collected):
    batches = []
    events.subscribe("test-batches", lambda batch: batches.append([event.pk for event in batch]), batch=True)
    try:
        with transaction.atomic():
            for n in range(5):
                event_emit("entity.checked", entity_a, {"n": n})
        Event.objects.update(published_at=None, attempts=0)
        oldest_first = list(Event.objects.order_by("created_at").values_list("pk", flat=True))
        collected.clear()
        while outbox_relay(batch_size=3):
            pass
    finally:
        events.unsubscribe("test-batches")
    assert batches == [oldest_first[i:i + 3] for i in range(0, len(oldest_first), 3)]
    assert collected == oldest_first  # a subscriber of single events still gets them one by one, in order


def test_a_failing_batch_is_handed_out_again_event_by_event(db, entity_a):
    with transaction.atomic():
        poison = event_emit("entity.poison", entity_a)
        fine = event_emit("entity.fine", entity_a)
    Event.objects.update(published_at=None, attempts=0)
    calls = []

    def strict(batch):
        calls.append([event.pk for event in batch])
        if any(event.pk == poison.pk for event in batch):
            raise ValueError("not this one")

    events.subscribe("strict", strict, batch=True)
    try:
        assert outbox_relay() == Event.objects.count() - 1
    finally:
        events.unsubscribe("strict")
    everything = list(Event.objects.order_by("created_at").values_list("pk", flat=True))
    assert calls == [everything] + [[pk] for pk in everything]  # the batch, then each event alone
    poison.refresh_from_db()
    fine.refresh_from_db()
    assert poison.published_at is None and poison.attempts == 1 and poison.last_error == "not this one"
    assert fine.published_at is not None and fine.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_two_relays_at_once_never_hand_out_the_same_event(entity_a):
    seen = []
    lock = threading.Lock()

    def slow(event):
        with lock:
            seen.append(event.pk)

    with transaction.atomic():
        for n in range(200):
            event_emit("entity.bulk", entity_a, {"n": n})
    Event.objects.update(published_at=None)
    events.subscribe("slow", slow)
    try:
        def run():
            try:
                outbox_relay(batch_size=50)
                outbox_relay(batch_size=50)
                outbox_relay(batch_size=50)
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        while outbox_relay():
            pass
    finally:
        events.unsubscribe("slow")
    bulk = set(Event.objects.filter(type="entity.bulk").values_list("pk", flat=True))
    assert len(seen) == len(set(seen)), "an event was relayed twice"
    assert bulk <= set(seen)
