"""ERP intake: finops.payment_batch.v1 documents pulled through an ERP adapter become batches (source erp_pull) with
the API's checks, once; what cannot become a batch is a case with its problems and the document, never a drop."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.services import connection_operation_run
from apps.core.events import outbox_relay
from apps.core.models import Event
from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_retry
from apps.org.models import BankAccount
from apps.payments.erp_intake import erp_batch_intake_process
from apps.payments.models import BatchIntake, BatchStatus, PaymentBatch, Source
from apps.payments.validation import next_business_day
from tests.payments.fake_erp import batch_document, fake_erp  # noqa: F401  (fixture)


@pytest.fixture
def day():
    return next_business_day(timezone.localdate() + timedelta(days=2), "EUR")


def pull(erp, capture):
    run = connection_operation_run(connection_id=erp.connection.pk, operation="pull_payment_batches")
    assert run.status == "succeeded", run.error
    with capture(execute=True):  # the test transaction never commits: relay as the task would, run what it queues
        outbox_relay()
    return run


def test_pulled_batch_becomes_a_batch_from_erp_pull(fake_erp, day, django_capture_on_commit_callbacks):
    fake_erp.publish("PAYRUN-1.json", batch_document("PAYRUN-1", day))
    run = pull(fake_erp, django_capture_on_commit_callbacks)

    batch = PaymentBatch.objects.get()
    intake = BatchIntake.objects.get()
    assert (batch.source, batch.erp_reference, batch.status) == (Source.ERP_PULL, "PAYRUN-1",
                                                                 BatchStatus.PENDING_APPROVAL)
    assert (intake.status, intake.batch, intake.connection_code, intake.sync_run_id) == (
        BatchIntake.Status.IMPORTED, batch, "fake-erp", run.pk)
    assert batch.raw_document == intake.raw_document  # lineage: the pulled document is the batch's raw payload
    instruction = batch.instructions.get()
    assert (instruction.end_to_end_id, str(instruction.amount), instruction.creditor_address["postal_code"]) == (
        "PAYRUN-1-1", "1250.00000", "40210")
    assert not ExceptionCase.objects.exists()


def test_same_document_pulled_twice_and_relayed_twice_makes_one_batch(fake_erp, day,
                                                                    django_capture_on_commit_callbacks):
    fake_erp.publish("PAYRUN-2.json", batch_document("PAYRUN-2", day))
    pull(fake_erp, django_capture_on_commit_callbacks)
    pull(fake_erp, django_capture_on_commit_callbacks)  # the ERP hands the same document over again
    assert Event.objects.filter(type="connection.documents_received").count() == 2
    Event.objects.update(published_at=None)  # as if every relay's commit had been lost
    with django_capture_on_commit_callbacks(execute=True):
        outbox_relay()
    assert PaymentBatch.objects.count() == 1
    assert BatchIntake.objects.get().status == BatchIntake.Status.IMPORTED
    assert erp_batch_intake_process(intake_id=BatchIntake.objects.get().pk).status == BatchIntake.Status.IMPORTED
    assert PaymentBatch.objects.count() == 1 and not ExceptionCase.objects.exists()


def test_erp_reference_sent_again_never_makes_a_second_batch(fake_erp, day, django_capture_on_commit_callbacks):
    first = batch_document("PAYRUN-3", day)
    fake_erp.publish("PAYRUN-3.json", first)
    # The same batch exported again: other bytes (key order, spacing), same content -> a duplicate, no case.
    fake_erp.publish("PAYRUN-3-again.json", json.dumps(dict(reversed(list(first.items())))).encode())
    # The same reference with another amount -> refused with a case; the first batch stands.
    fake_erp.publish("PAYRUN-3-changed.json", batch_document("PAYRUN-3", day, amount="1300.00"))
    pull(fake_erp, django_capture_on_commit_callbacks)

    batch = PaymentBatch.objects.get()
    by_name = {i.raw_document.filename: i for i in BatchIntake.objects.select_related("raw_document")}
    assert by_name["PAYRUN-3.json"].status == BatchIntake.Status.IMPORTED
    assert (by_name["PAYRUN-3-again.json"].status, by_name["PAYRUN-3-again.json"].batch) == (
        BatchIntake.Status.DUPLICATE, batch)
    changed = by_name["PAYRUN-3-changed.json"]
    assert changed.status == BatchIntake.Status.REJECTED and changed.batch is None
    case = ExceptionCase.objects.get()
    assert (case.kind, case.reason_code, case.raw_document, case.subject_id) == (
        "payment.batch_rejected", "erp_reference_reused", changed.raw_document, str(changed.pk))
    assert f"batch 'PAYRUN-3' of DE01 was received before (batch {batch.pk}" in case.message
    assert "with different content" in case.message


def test_invalid_documents_open_cases_naming_the_problems_with_the_document(fake_erp, day,
                                                                          django_capture_on_commit_callbacks):
    shape = batch_document("BAD-SHAPE", day)
    second = {**shape["instructions"][0], "end_to_end_id": "BAD-SHAPE-2", "note": "hello"}
    del shape["instructions"][0]["amount"]
    shape["instructions"].append(second)
    fake_erp.publish("bad-shape.json", shape)
    fake_erp.publish("bad-values.json", batch_document("BAD-VALUES", day, amount="10.001", iban="DE00123"))
    fake_erp.publish("not-json.json", b'{"schema": "finops.payment_batch.v1", "entity": ')
    fake_erp.publish("other-schema.json", {**batch_document("OTHER", day), "schema": "finops.journal.v1"})
    pull(fake_erp, django_capture_on_commit_callbacks)

    assert not PaymentBatch.objects.exists()
    assert set(BatchIntake.objects.values_list("status", flat=True)) == {BatchIntake.Status.REJECTED}
    cases = {c.raw_document.filename: c for c in ExceptionCase.objects.select_related("raw_document")}
    assert len(cases) == 4 and {c.kind for c in cases.values()} == {"payment.batch_rejected"}
    shape_case = cases["bad-shape.json"]
    assert shape_case.reason_code == "invalid_batch" and shape_case.legal_entity.code == "DE01"
    assert "instructions[0].amount: This field is required; instructions[1].note: Unknown field." in shape_case.message
    values_case = cases["bad-values.json"]
    assert "instructions[0].amount: 10.001 has more decimals than EUR allows (2); " in values_case.message
    assert "instructions[0].creditor.iban: 'DE00123' is not a valid IBAN" in values_case.message
    intake = BatchIntake.objects.get(raw_document__filename="bad-values.json")
    assert {p["field"] for p in intake.problems} == {"instructions[0].amount", "instructions[0].creditor.iban"}
    assert cases["not-json.json"].reason_code == "invalid_json" and "Malformed JSON" in cases["not-json.json"].message
    assert "schema: expected 'finops.payment_batch.v1', got 'finops.journal.v1'" in cases["other-schema.json"].message
    with cases["bad-values.json"].raw_document.content.open("rb") as fh:  # the document is kept as it came
        assert json.loads(fh.read())["erp_reference"] == "BAD-VALUES"


def test_retry_imports_the_kept_document_once_the_cause_is_fixed(fake_erp, day, make_user, entity_a, account_a,
                                                               django_capture_on_commit_callbacks):
    BankAccount.objects.filter(pk=account_a.pk).update(active=False)  # not yet opened at the bank
    fake_erp.publish("PAYRUN-4.json", batch_document("PAYRUN-4", day))
    pull(fake_erp, django_capture_on_commit_callbacks)
    case = ExceptionCase.objects.get(kind="payment.batch_rejected")
    assert "debtor_account:" in case.message and "is not active" in case.message
    treasury = make_user("treasury", entities=[entity_a])

    case = case_retry(case_id=case.pk, actor=treasury)  # still inactive: the case stays, nothing half-stored
    assert case.status == "open" and "is not active" in case.last_error and not PaymentBatch.objects.exists()

    BankAccount.objects.filter(pk=account_a.pk).update(active=True)
    case = case_retry(case_id=case.pk, actor=treasury)
    batch = PaymentBatch.objects.get()
    assert case.status == "resolved" and batch.source == Source.ERP_PULL
    intake = BatchIntake.objects.get()
    assert (intake.status, intake.batch, intake.attempts, intake.problems) == (
        BatchIntake.Status.IMPORTED, batch, 3, [])
    assert ExceptionCase.objects.count() == 1  # retries add no cases
