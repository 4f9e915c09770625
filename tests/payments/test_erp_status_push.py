"""Payment statuses back to the ERP: every status event becomes one finops.payment_status.v1 document pushed
through the entity's ERP adapter, in order, exactly once per event; the ERP down is retried (nothing lost); the ERP
refusing is a case whose retry sends again; entities without an ERP are recorded as skipped."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.services import connection_circuit_reset, connection_upsert
from apps.core.events import outbox_relay
from apps.core.models import Event
from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_retry
from apps.org.services import entity_erp_connection_set
from apps.payments import services
from apps.payments.erp_status import (
    LEASE,
    _claim_next,
    _push,
    _record,
    erp_status_pushes_enqueue_due,
    erp_status_pushes_send,
)
from apps.payments.models import BatchStatus, ErpStatusPush
from apps.payments.reasons import explain
from apps.payments.validation import next_business_day
from apps.statements.services import statement_file_import
from tests.payments.fake_erp import fake_erp  # noqa: F401  (fixture)
from tests.payments.test_status_back import pain002
from tests.payments.test_transmission import approved_batch


def receive(make_user, entity_a, reference: str, *, source: str = "api"):
    clerk = make_user("ap_clerk", entities=[entity_a])
    day = next_business_day(timezone.localdate() + timedelta(days=3), "EUR")
    return services.payment_batch_receive(actor=clerk, source=source, data={
        "entity": "DE01", "debtor_account": "DE89370400440532013000", "requested_execution_date": day,
        "erp_reference": reference, "instructions": [
            {"end_to_end_id": f"{reference}-1", "amount": "99.90", "currency": "EUR", "erp_reference": "DOC-1",
             "creditor": {"name": "Nordlicht Logistik AG", "iban": "DE32200411110123123123",
                          "address": {"town": "Hamburg", "country": "DE"}}}]})


def relay(capture) -> None:
    with capture(execute=True):  # the test transaction never commits: relay as the task would, run what it queues
        outbox_relay()


def shape(doc: dict) -> tuple:
    return doc["batch"]["status"], [(i["end_to_end_id"], i["status"]) for i in doc["instructions"]]


@pytest.mark.django_db(transaction=True)
def test_status_changes_reach_the_erp_once_each_in_order(fake_erp, make_user, entity_a, tmp_path):
    (tmp_path / "bank").mkdir()
    connection_upsert(code="deut-drop", name="DEUT", partner_kind="bank", partner_ref="DEUT", transport="directory",
                      endpoint=str(tmp_path / "bank"))
    batch = approved_batch(make_user, entity_a)  # received, approved by one approver, sent to the bank on commit
    batch.refresh_from_db()
    assert batch.status == BatchStatus.TRANSMITTED
    file = batch.files.get()
    statement_file_import(content=pain002(file.message_id, [("E2E-1", "RJCT", "AC04"), ("E2E-2", "ACCP", "")]),
                          filename="pain002.xml", source="test")

    docs = fake_erp.statuses
    both = [("E2E-1", "ready"), ("E2E-2", "ready")]
    assert [shape(d) for d in docs] == [
        ("received", both), ("pending_approval", both), ("approved", both), ("transmitted", both),
        ("transmitted", [("E2E-1", "rejected")]), ("transmitted", [("E2E-2", "accepted")]),
        ("partially_accepted", [("E2E-1", "rejected"), ("E2E-2", "accepted")]),
    ]  # each as of its event: the first push went out before anything else happened, the others after
    events = {str(e.pk): e.type for e in Event.objects.filter(type__startswith="payment_")}
    assert [events[d["event_id"]] for d in docs] == [
        "payment_batch.received", "payment_batch.pending_approval", "payment_batch.approved",
        "payment_batch.transmitted", "payment_instruction.rejected", "payment_instruction.accepted",
        "payment_batch.partially_accepted"]
    rejected = docs[4]
    assert rejected["schema"] == "finops.payment_status.v1" and rejected["entity"] == "DE01"
    assert rejected["batch"] == {"id": batch.pk, "erp_reference": "ERP-TX-1", "status": "transmitted"}
    assert rejected["instructions"] == [{
        "end_to_end_id": "E2E-1", "erp_reference": "", "status": "rejected", "reason_code": "AC04",
        "reason": explain("AC04").text, "amount": "1250.00", "currency": "EUR"}]
    assert rejected["occurred_at"].endswith("Z")

    Event.objects.update(published_at=None)  # every event relayed again, every send task run again
    outbox_relay()
    erp_status_pushes_send(connection_id=fake_erp.connection.pk)
    assert len(fake_erp.statuses) == 7 and fake_erp.push_attempts == 7
    pushes = ErpStatusPush.objects.filter(batch=batch)
    assert pushes.count() == 7 and set(pushes.values_list("status", flat=True)) == {"delivered"}
    assert all(p.raw_document.direction == "outbound" and p.sync_run.status == "succeeded" for p in pushes)
    assert not ExceptionCase.objects.filter(kind__in=["payment.erp_status_failed", "connector.unavailable"]).exists()


def test_entity_without_an_erp_connection_is_recorded_as_skipped(fake_erp, make_user, entity_a,
                                                                django_capture_on_commit_callbacks):
    entity_erp_connection_set(entity_code="DE01", connection_code="")
    batch = receive(make_user, entity_a, "NO-ERP-1")
    relay(django_capture_on_commit_callbacks)
    pushes = list(ErpStatusPush.objects.filter(batch=batch))
    assert [(p.event_type, p.status, p.connection_id) for p in pushes] == [
        ("payment_batch.received", "skipped", None), ("payment_batch.pending_approval", "skipped", None)]
    assert "DE01 has no ERP connection" in pushes[0].last_error
    assert fake_erp.statuses == [] and fake_erp.push_attempts == 0 and not ExceptionCase.objects.exists()


def test_erp_down_is_retried_with_backoff_and_nothing_is_lost(fake_erp, make_user, entity_a,
                                                             django_capture_on_commit_callbacks):
    fake_erp.down = True
    batch = receive(make_user, entity_a, "DOWN-1")
    relay(django_capture_on_commit_callbacks)
    first, second = ErpStatusPush.objects.filter(batch=batch)
    assert (first.status, first.attempts, second.status, second.attempts) == ("retrying", 1, "pending", 0)
    assert "unavailable" in first.last_error and fake_erp.push_attempts == 3  # the connector retried 3 times
    assert timedelta(seconds=29) < first.next_attempt_at - first.updated_at <= timedelta(seconds=30)
    unavailable = ExceptionCase.objects.get(kind="connector.unavailable")  # the framework's case, not ours
    assert not ExceptionCase.objects.filter(kind="payment.erp_status_failed").exists()

    assert erp_status_pushes_send(connection_id=fake_erp.connection.pk) == 0  # not due: nothing sent twice
    assert erp_status_pushes_enqueue_due(now=first.updated_at) == 0  # the sweep leaves it to its own retry task
    assert erp_status_pushes_enqueue_due(now=first.next_attempt_at + timedelta(minutes=2)) == 1  # a lost task
    due = first.next_attempt_at
    assert erp_status_pushes_send(connection_id=fake_erp.connection.pk, now=due) == 0  # circuit open now
    first.refresh_from_db()
    assert (first.status, first.attempts, first.next_attempt_at - due) == ("retrying", 2, timedelta(seconds=60))
    assert fake_erp.push_attempts == 3  # the open circuit spared the ERP

    fake_erp.down = False
    admin = make_user("admin", all_entities=True)
    connection_circuit_reset(connection_id=fake_erp.connection.pk, actor=admin, reason="ERP back")
    relay(django_capture_on_commit_callbacks)  # circuit closed: the waiting pushes are due at once, in order
    assert [(d["batch"]["status"]) for d in fake_erp.statuses] == ["received", "pending_approval"]
    assert set(ErpStatusPush.objects.values_list("status", flat=True)) == {"delivered"}
    unavailable.refresh_from_db()
    assert unavailable.status == "resolved"


def test_erp_refusing_opens_one_case_and_its_retry_sends_again(fake_erp, make_user, entity_a,
                                                              django_capture_on_commit_callbacks):
    fake_erp.refuse = True
    batch = receive(make_user, entity_a, "REFUSED-1")
    relay(django_capture_on_commit_callbacks)
    assert list(ErpStatusPush.objects.values_list("status", flat=True)) == ["failed", "failed"]  # the queue went on
    case = ExceptionCase.objects.get(kind="payment.erp_status_failed")
    assert case.subject_id == str(fake_erp.connection.pk) and case.occurrence_log.count() == 1  # the second refusal
    assert "payment_batch.received of batch REFUSED-1 (DE01" in case.message
    assert "HTTP 422: batch REFUSED-1 is unknown here" in case.message

    fake_erp.refuse = False
    treasury = make_user("treasury", all_entities=True)
    case = case_retry(case_id=case.pk, actor=treasury)
    assert case.status == "resolved"
    assert [d["batch"]["status"] for d in fake_erp.statuses] == ["received", "pending_approval"]
    assert [p.status for p in ErpStatusPush.objects.filter(batch=batch)] == ["delivered", "delivered"]


def test_a_push_in_flight_is_not_sent_again(fake_erp, make_user, entity_a):
    receive(make_user, entity_a, "LEASE-1")
    outbox_relay()  # rows written; the send tasks queued on commit never run in this test transaction
    conn = fake_erp.connection.pk
    now = timezone.now()
    claim = _claim_next(conn, now)  # worker A is sending the first push
    assert erp_status_pushes_send(connection_id=conn, now=now) == 0  # worker B: in flight, and order is kept
    assert fake_erp.push_attempts == 0
    assert _record(claim, _push(claim), now) == "delivered"
    assert erp_status_pushes_send(connection_id=conn, now=now) == 1
    assert [d["batch"]["status"] for d in fake_erp.statuses] == ["received", "pending_approval"]

    # A worker that died mid-send: after its lease the push is sent again, with the same document and event id
    # (the ERP dedupes by event_id); the dead worker's late answer changes nothing.
    receive(make_user, entity_a, "LEASE-2")
    outbox_relay()
    dead = _claim_next(conn, now)
    later = now + LEASE + timedelta(seconds=1)
    assert erp_status_pushes_send(connection_id=conn, now=later) == 2
    assert _record(dead, _push(dead), later) == "superseded"
    resent = [d["event_id"] for d in fake_erp.statuses[2:]]
    assert len(resent) == 3 and resent[0] == resent[2] and len(set(resent)) == 2


def test_reimbursement_batches_are_pushed_and_the_page_shows_the_delivery(fake_erp, make_user, entity_a, client,
                                                                         django_capture_on_commit_callbacks):
    batch = receive(make_user, entity_a, "EXP-2026-11", source="reimbursement")
    relay(django_capture_on_commit_callbacks)
    assert [d["batch"]["erp_reference"] for d in fake_erp.statuses] == ["EXP-2026-11", "EXP-2026-11"]
    client.force_login(make_user("treasury", entities=[entity_a]))
    page = client.get(f"/payments/{batch.pk}/").content.decode()
    assert page.count('data-testid="erp-push-row" data-status="delivered"') == 2
    assert "Status documents for the ERP: 2 delivered." in page
