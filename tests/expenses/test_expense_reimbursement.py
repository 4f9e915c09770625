"""Reimbursement: posted reports are paid to the employee through the payments pipeline, and the payment's outcome
comes back to the report."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from apps.core.models import Event
from apps.exceptions.models import ExceptionCase
from apps.expenses import services
from apps.expenses.masterdata import master_data_apply
from apps.expenses.models import ExpenseReport, ReportStatus
from apps.org.models import LegalEntity
from apps.payments.models import FlagKind, InstructionStatus, PaymentBatch
from apps.payments.services import payment_batch_receive
from apps.payments.validation import next_business_day
from tests.conftest import BankAccountFactory, EntityFactory
from tests.expenses.expense_builders import TODAY, fake_erp_connection, master_data, report

pytestmark = pytest.mark.django_db


@pytest.fixture
def de01(db, tmp_path):
    entity = EntityFactory(code="DE01", name="Acme GmbH", country="DE", base_currency="EUR")
    BankAccountFactory(entity=entity, iban="DE65100700000123456789", currency="EUR", name="Payroll EUR")
    LegalEntity.objects.filter(pk=entity.pk).update(erp_connection=fake_erp_connection(tmp_path))
    master_data_apply(payload=master_data("DE01"))
    return LegalEntity.objects.get(pk=entity.pk)


def posted(**kw) -> ExpenseReport:
    r, _ = services.expense_report_receive(payload=report(**kw), source="api")
    services.expense_reports_process(report_ids=[r.pk])
    for journal in r.journals.all():
        services.expense_journal_post(journal_id=journal.pk)
    r.refresh_from_db()
    assert r.status == ReportStatus.POSTED
    return r


def test_posted_reports_are_batched_per_entity_and_day_and_paid_to_the_employee(de01):
    first, second = posted(), posted()
    batch_ids = services.expense_reimbursements_create(day=TODAY)
    assert len(batch_ids) == 1
    batch = PaymentBatch.objects.get(pk=batch_ids[0])
    assert batch.source == "reimbursement" and batch.status == "pending_approval"
    assert batch.total_amount == first.total + second.total
    instructions = {i.erp_reference: i for i in batch.instructions.all()}
    assert instructions[first.external_id].creditor_iban == "DE80500105175407324380"
    assert instructions[first.external_id].remittance_information == f"Expense report {first.external_id}"
    for r in (first, second):
        r.refresh_from_db()
        assert r.status == ReportStatus.REIMBURSING and r.reimbursement.batch_id == batch.pk
    assert services.expense_reimbursements_create(day=TODAY) == []  # nothing paid twice


def test_reimbursement_already_in_an_erp_payment_run_is_flagged_as_duplicate(de01):
    r = posted()
    payment_batch_receive(source="api", data={
        "entity": "DE01", "debtor_account": "DE65100700000123456789",
        "requested_execution_date": next_business_day(TODAY + timedelta(days=1), "EUR"), "erp_reference": "PAYRUN-7",
        "instructions": [{"end_to_end_id": "PR7-1", "amount": str(r.total), "currency": "EUR",
                          "creditor": {"name": "Jana Kowalski", "iban": "DE80500105175407324380",
                                       "address": {"town": "Berlin", "country": "DE"}},
                          "remittance_information": f"Expense report {r.external_id}"}]})
    [batch_id] = services.expense_reimbursements_create(day=TODAY)
    instruction = PaymentBatch.objects.get(pk=batch_id).instructions.get()
    assert instruction.status == InstructionStatus.HELD
    assert instruction.flags.get().kind == FlagKind.DUPLICATE
    assert ExceptionCase.objects.filter(kind="payment.flagged").exists()


def test_employee_without_valid_bank_details_gets_a_case_not_a_payment(de01):
    doc = master_data("DE01")
    doc["employees"][0]["iban"] = "DE00123"
    master_data_apply(payload=doc)
    r = posted()
    assert services.expense_reimbursements_create(day=TODAY) == []
    r.refresh_from_db()
    assert r.status == ReportStatus.POSTED and r.reimbursement is None
    case = ExceptionCase.objects.get(kind="expense.reimbursement_failed")
    assert "DE00123" in case.message and r.external_id in case.message


def _event(kind: str, instruction, **payload) -> Event:
    return Event(type=f"payment_instruction.{kind}", aggregate_type="payments.paymentinstruction",
                 aggregate_id=str(instruction.pk), payload=payload)


def test_payment_outcome_flows_back_to_the_report_and_the_platform(de01, django_capture_on_commit_callbacks,
                                                                   monkeypatch):
    told = []
    monkeypatch.setattr(services, "_queue_platform_update", lambda pk, state: told.append((pk, state)))
    paid, failed = posted(), posted()
    services.expense_reimbursements_create(day=TODAY)
    paid.refresh_from_db()
    failed.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.reimbursement_status_subscriber(_event("accepted", paid.reimbursement))
        services.reimbursement_status_subscriber(_event("accepted", paid.reimbursement))  # relayed twice
        services.reimbursement_status_subscriber(_event("rejected", failed.reimbursement, reason_code="AC04"))
    paid.refresh_from_db()
    failed.refresh_from_db()
    assert paid.status == ReportStatus.REIMBURSED and failed.status == ReportStatus.REIMBURSEMENT_FAILED
    assert told == [(paid.pk, "paid")]
    case = ExceptionCase.objects.get(kind="expense.reimbursement_failed")
    assert "AC04" in case.message


def test_reimbursement_amount_is_the_report_total(de01):
    r = posted()
    services.expense_reimbursements_create(day=TODAY)
    r.refresh_from_db()
    assert r.reimbursement.amount == r.total == Decimal("140.40")


def test_platform_down_when_posted_is_told_later_by_the_resume(de01, tmp_path, django_capture_on_commit_callbacks):
    import datetime as dt

    from apps.connectors.channels import register_expense_source
    from apps.connectors.errors import TransientError
    from apps.connectors.services import connection_upsert

    told, down = [], {"now": True}

    class Platform:
        def __init__(self, conn, recorder):
            pass

        def mark_exported(self, report_ids, state="exported"):
            if down["now"]:
                raise TransientError("platform answered HTTP 503")
            told.append((tuple(report_ids), state))
            return {"state": state, "changed": list(report_ids)}

    register_expense_source("fake_platform_test", Platform)
    connection_upsert(code="concur-fake", name="Concur (fake)", partner_kind="expense", partner_ref="concur",
                      transport="directory", endpoint=str(tmp_path), options={"adapter": "fake_platform_test"},
                      max_attempts=1, reason="test")
    with django_capture_on_commit_callbacks(execute=True):
        r = posted()
    r.refresh_from_db()
    assert r.platform_state == "" and told == []  # the platform was down: nothing lost, nothing told yet
    down["now"] = False
    ExpenseReport.objects.filter(pk=r.pk).update(updated_at=r.updated_at - dt.timedelta(minutes=10))
    services.expense_postings_resume()
    r.refresh_from_db()
    assert r.platform_state == "exported" and told == [((r.external_id,), "exported")]
    services.expense_postings_resume()
    assert len(told) == 1  # told once
