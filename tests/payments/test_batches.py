"""Payments intake, policy checks and approvals (PostgreSQL)."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.core.models import Event
from apps.exceptions.models import ExceptionCase
from apps.org.services import counterparty_upsert
from apps.payments import services
from apps.payments.models import (
    ApprovalRule,
    BatchStatus,
    DenylistEntry,
    InstructionStatus,
    PaymentBatch,
    PaymentFlag,
)
from apps.payments.validation import next_business_day

VENDOR_IBAN = "DE12100700000555444333"
OTHER_IBAN = "DE32200411110123123123"


def execution_day():
    return next_business_day(timezone.localdate() + timedelta(days=3), "EUR")


def payload(ref="ERP-1", instructions=None, **over):
    data = {
        "entity": "DE01", "debtor_account": "DE89370400440532013000", "requested_execution_date": execution_day(),
        "erp_reference": ref,
        "instructions": instructions or [
            {"end_to_end_id": "E2E-1", "amount": "1250.00", "currency": "EUR",
             "creditor": {"name": "Rheinmetall Teile GmbH", "iban": VENDOR_IBAN}, "remittance_information": "INV 1"},
            {"end_to_end_id": "E2E-2", "amount": "80.50", "currency": "EUR",
             "creditor": {"name": "Nordlicht Logistik AG", "iban": OTHER_IBAN}, "remittance_information": "INV 2"},
        ],
    }
    data.update(over)
    return data


@pytest.fixture
def setup(account_a, entity_a, make_user):
    return {
        "clerk": make_user("ap_clerk", entities=[entity_a], username="clara"),
        "approver": make_user("approver", entities=[entity_a], username="anna"),
        "approver2": make_user("approver", entities=[entity_a], username="bert"),
        "treasury": make_user("treasury", entities=[entity_a], username="tom"),
    }


def test_batch_is_validated_and_waits_for_approval(setup):
    batch = services.payment_batch_receive(data=payload(), actor=setup["clerk"], raw=b"{}")
    assert batch.status == BatchStatus.PENDING_APPROVAL
    assert (batch.total_amount, batch.currency, batch.instruction_count) == (Decimal("1330.50"), "EUR", 2)
    assert batch.raw_document is not None and len(batch.content_sha256) == 64
    assert [i.creditor_bic for i in batch.instructions.all()] == ["DEUTDEBBXXX", "COBADEHDXXX"]  # derived from the IBANs
    statuses = list(batch.history.order_by("history_date", "history_id").values_list("status", flat=True))
    assert statuses == ["received", "received", "validated", "pending_approval"]
    created = batch.instructions.first().history.get()  # each instruction's creation is in its history too
    assert (created.history_type, created.history_user, created.history_change_reason) == (
        "+", setup["clerk"], "received")
    assert created.amount == Decimal("1250.00") and created.creditor_iban == VENDOR_IBAN
    assert Event.objects.filter(type="payment_batch.pending_approval").count() == 1


@pytest.mark.parametrize("change, message", [
    ({"instructions": [{"end_to_end_id": "X", "amount": "10.001", "currency": "EUR",
                        "creditor": {"name": "A", "iban": VENDOR_IBAN}}]},
     "instructions[0].amount: 10.001 has more decimals than EUR allows (2)."),
    ({"instructions": [{"end_to_end_id": "X", "amount": "10.00", "currency": "EUR",
                        "creditor": {"name": "A", "iban": "DE12100700000555444334"}}]},
     "instructions[0].creditor.iban: 'DE12100700000555444334' is not a valid IBAN (Invalid checksum digits)."),
    ({"instructions": [{"end_to_end_id": "X", "amount": "0", "currency": "EUR",
                        "creditor": {"name": "A", "iban": VENDOR_IBAN}}]},
     "instructions[0].amount: 0 must be greater than zero."),
    ({"instructions": [{"end_to_end_id": "X", "amount": "10.00", "currency": "USD",
                        "creditor": {"name": "A", "iban": VENDOR_IBAN}}]},
     "instructions[0].currency: USD cannot be paid from"),
    ({"debtor_account": "DE65100700000123456789"}, "debtor_account: 'DE65100700000123456789' is not a bank account"),
])
def test_invalid_input_names_instruction_and_field_and_stores_nothing(setup, change, message):
    with pytest.raises(ValidationFailed) as raised:
        services.payment_batch_receive(data=payload(**change), actor=setup["clerk"])
    assert message in raised.value.message
    assert not PaymentBatch.objects.exists()


def test_bank_profile_rules_are_checked_before_approval(setup, account_a):
    from apps.org.models import BankPartner

    BankPartner.objects.filter(pk=account_a.bank_id).update(payment_format="pain.001.001.09")
    with pytest.raises(ValidationFailed) as raised:
        services.payment_batch_receive(data=payload(instructions=[
            {"end_to_end_id": "E1", "amount": "5.00", "currency": "EUR",
             "creditor": {"name": "X" * 71, "iban": VENDOR_IBAN, "address": {"town": "Berlin", "country": "DE"}}},
            {"end_to_end_id": "E2", "amount": "5.00", "currency": "EUR",
             "creditor": {"name": "No Address GmbH", "iban": OTHER_IBAN}}]), actor=setup["clerk"])
    fields = [(e["field"], e["message"]) for e in raised.value.extra["errors"]]
    assert fields[0] == ("instructions[0].creditor.name", "71 characters; Deutsche Bank (pain.001.001.09) accepts "
                                                          "at most 70.")
    assert fields[1][0] == "instructions[1].creditor.address" and "town and country" in fields[1][1]
    assert not PaymentBatch.objects.exists()


def test_execution_date_must_be_a_business_day(setup):
    christmas = timezone.localdate().replace(month=12, day=25)
    if christmas <= timezone.localdate():
        christmas = christmas.replace(year=christmas.year + 1)
    with pytest.raises(ValidationFailed, match="is not a business day for EUR; the next one is"):
        services.payment_batch_receive(data=payload(requested_execution_date=christmas), actor=setup["clerk"])


def test_sepa_characters_are_transliterated_and_said(setup):
    batch = services.payment_batch_receive(data=payload(instructions=[
        {"end_to_end_id": "E1", "amount": "5.00", "currency": "EUR",
         "creditor": {"name": "Müller & Söhne GmbH", "iban": VENDOR_IBAN}, "remittance_information": "Straße 5"}]),
        actor=setup["clerk"])
    instruction = batch.instructions.get()
    assert (instruction.creditor_name, instruction.remittance_information) == ("Muller + Sohne GmbH", "Strasse 5")
    flag = instruction.flags.get()
    assert flag.kind == "transliterated" and not flag.holds and instruction.status == InstructionStatus.READY


def test_duplicate_payment_across_batches_is_held_with_a_case(setup):
    services.payment_batch_receive(data=payload("ERP-1"), actor=setup["clerk"])
    second = services.payment_batch_receive(data=payload("ERP-2", instructions=[
        {"end_to_end_id": "NEW-1", "amount": "1250.00", "currency": "EUR",
         "creditor": {"name": "Rheinmetall Teile GmbH", "iban": VENDOR_IBAN}, "remittance_information": "INV 1"}]),
        actor=setup["clerk"])
    held = second.instructions.get()
    assert held.status == InstructionStatus.HELD
    assert held.flags.get().kind == "duplicate"
    case = ExceptionCase.objects.get(kind="payment.flagged")
    assert "same creditor account, amount and reference as E2E-1 in batch ERP-1" in case.message


def test_changed_vendor_bank_details_need_treasury(setup):
    counterparty_upsert(entity_code="DE01", kind="vendor", code="V-1", name="Rheinmetall", iban=VENDOR_IBAN)
    batch = services.payment_batch_receive(data=payload(instructions=[
        {"end_to_end_id": "E1", "amount": "9000.00", "currency": "EUR",
         "creditor": {"name": "Rheinmetall", "iban": OTHER_IBAN, "counterparty_ref": "V-1"}}]), actor=setup["clerk"])
    instruction = batch.instructions.get()
    flag = instruction.flags.get(kind="bank_details_changed")
    with pytest.raises(Conflict, match="held for review"):
        services.payment_batch_approve(batch_id=batch.pk, actor=setup["approver"])
    with pytest.raises(PermissionDenied, match="cleared by treasury"):
        services.payment_flag_clear(flag_id=flag.pk, actor=setup["approver"], reason="looks fine")
    services.payment_flag_clear(flag_id=flag.pk, actor=setup["treasury"], reason="confirmed by phone with J. Doe")
    instruction.refresh_from_db()
    assert instruction.status == InstructionStatus.READY
    assert ExceptionCase.objects.get(kind="payment.flagged").status == "resolved"
    assert services.payment_batch_approve(batch_id=batch.pk, actor=setup["approver"]).status == BatchStatus.APPROVED


def test_denylist_hit_is_held(setup):
    DenylistEntry.objects.create(name="Nordlicht Logistics AG", reason="sanctions list 2026/11")
    batch = services.payment_batch_receive(data=payload(), actor=setup["clerk"])
    held = batch.instructions.get(status=InstructionStatus.HELD)
    assert held.creditor_name == "Nordlicht Logistik AG" and held.flags.get().kind == "denylist"


def test_maker_checker_and_no_double_counting(setup, entity_a):
    ApprovalRule.objects.create(entity=entity_a, name="two above 1000", min_amount=Decimal("1000"), approvers=2,
                                roles=["approver"])
    batch = services.payment_batch_receive(data=payload(), actor=setup["clerk"])
    assert batch.required_approvals == 2
    with pytest.raises(PermissionDenied):
        services.payment_batch_approve(batch_id=batch.pk, actor=setup["clerk"])  # clerk has no approve right
    setup["clerk"].groups.add(setup["approver"].groups.first())
    from django.contrib.auth import get_user_model

    maker = get_user_model().objects.get(pk=setup["clerk"].pk)
    with pytest.raises(PermissionDenied, match="maker-checker"):
        services.payment_batch_approve(batch_id=batch.pk, actor=maker)
    services.payment_batch_approve(batch_id=batch.pk, actor=setup["approver"])
    with pytest.raises(Conflict, match="already approved"):
        services.payment_batch_approve(batch_id=batch.pk, actor=setup["approver"])
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PENDING_APPROVAL and batch.approvals.count() == 1
    services.payment_batch_approve(batch_id=batch.pk, actor=setup["approver2"])
    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED


def test_an_edit_after_approval_voids_it_and_the_editor_cannot_approve(setup, entity_a):
    ApprovalRule.objects.create(entity=entity_a, name="two", min_amount=Decimal("0"), approvers=2)
    batch = services.payment_batch_receive(data=payload(), actor=setup["clerk"])
    services.payment_batch_approve(batch_id=batch.pk, actor=setup["approver"])
    instruction = batch.instructions.first()
    services.payment_instruction_update(instruction_id=instruction.pk, actor=setup["treasury"], amount="1300.00",
                                        reason="invoice corrected")
    batch.refresh_from_db()
    assert batch.approvals.get().voided_at is not None and batch.total_amount == Decimal("1380.50")
    assert batch.history.first().history_change_reason.startswith("1 approval(s) voided: E2E-1 changed")
    from django.contrib.auth import get_user_model

    setup["treasury"].groups.add(setup["approver"].groups.first())  # an editor who may also approve ...
    editor = get_user_model().objects.get(pk=setup["treasury"].pk)
    with pytest.raises(PermissionDenied, match="maker-checker"):  # ... still may not approve what they changed
        services.payment_batch_approve(batch_id=batch.pk, actor=editor)
    services.payment_batch_approve(batch_id=batch.pk, actor=setup["approver"])
    services.payment_batch_approve(batch_id=batch.pk, actor=setup["approver2"])
    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED


def test_reject_and_cancel_need_a_reason(setup):
    batch = services.payment_batch_receive(data=payload(), actor=setup["clerk"])
    with pytest.raises(ValidationFailed, match="reason is required"):
        services.payment_batch_reject(batch_id=batch.pk, actor=setup["approver"], reason=" ")
    services.payment_batch_reject(batch_id=batch.pk, actor=setup["approver"], reason="wrong debtor account")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.REJECTED


def test_other_entities_batches_are_not_found(setup, make_user, entity_b):
    batch = services.payment_batch_receive(data=payload(), actor=setup["clerk"])
    outsider = make_user("approver", entities=[entity_b])
    from apps.core.errors import NotFound

    with pytest.raises(NotFound):
        services.payment_batch_approve(batch_id=batch.pk, actor=outsider)


@pytest.mark.django_db(transaction=True)
def test_two_approvers_racing_on_the_last_approval_release_once(account_a, entity_a, make_user):
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    first, a, b = (make_user("approver", entities=[entity_a], username=n) for n in ("anna", "bert", "carl"))
    ApprovalRule.objects.create(entity=entity_a, name="two", min_amount=Decimal("0"), approvers=2)
    batch = services.payment_batch_receive(data=payload(), actor=clerk)
    services.payment_batch_approve(batch_id=batch.pk, actor=first)
    barrier, outcomes = threading.Barrier(2), []

    def approve(user):
        try:
            barrier.wait()
            services.payment_batch_approve(batch_id=batch.pk, actor=user)
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[1] == "ok" and "not pending approval" in sorted(outcomes)[0]
    assert Event.objects.filter(type="payment_batch.approved").count() == 1
    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED and batch.approvals.filter(voided_at__isnull=True).count() == 2
    assert PaymentFlag.objects.count() == 0


@pytest.mark.parametrize("rate, required, note", [("1.20", 1, False), ("1.10", 2, False), (None, 2, True)])
def test_approval_thresholds_compare_in_the_entity_base_currency(setup, entity_a, rate, required, note):
    from apps.org.models import BankAccount, FxRate

    BankAccount.objects.create(entity=entity_a, bank=BankAccount.objects.first().bank, iban=None,
                               account_number="USD-1", routing_code="021000021", currency="USD", name="USD")
    ApprovalRule.objects.create(entity=entity_a, name="two above 10k EUR", min_amount=Decimal("10000"), approvers=2)
    if rate:
        FxRate.objects.create(date=timezone.localdate(), base="EUR", quote="USD", rate=Decimal(rate))
    day = next_business_day(timezone.localdate() + timedelta(days=3), "USD")
    batch = services.payment_batch_receive(actor=setup["clerk"], data={
        "entity": "DE01", "debtor_account": "USD-1", "requested_execution_date": day, "erp_reference": "USD-RUN",
        "instructions": [{"end_to_end_id": "U1", "amount": "11000.00", "currency": "USD",
                          "creditor": {"name": "Acme Corp", "account_number": "4455667788", "routing": "026009593"}}]})
    assert batch.required_approvals == required
    assert any("fx" in rule for rule in batch.approval_rules) == note
