"""End to end on the sandbox bank, through files as with a real bank: ERP batch in -> duplicate and changed bank
details held -> cleared by treasury -> two approvals -> XSD-valid pain.001 sent -> the sandbox bank answers a
pain.002 with one AC04 rejection -> the hub fetches it, imports it through bank_import -> case with the explanation
-> status events, delivered to the entity's (sandbox, cloud) ERP over HTTP."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.connectors.models import Connection
from apps.connectors.services import connection_operation_run, connection_upsert
from apps.core.models import Event
from apps.exceptions.models import ExceptionCase
from apps.org.services import counterparty_upsert
from apps.payments import services
from apps.payments.models import ApprovalRule, BatchStatus, FlagKind, PaymentFile, PaymentFlag, PaymentInstruction
from apps.payments.validation import next_business_day
from apps.sandbox.models import SandboxBank
from apps.sandbox.models import SandboxPaymentStatusUpdate
from apps.sandbox.services import bank_dirs, sandbox_bank_ensure, sandbox_tick
from apps.org.models import LegalEntity
from tests.sandbox.partner_builders import CLIENT_ID, CLIENT_SECRET, cloud_erp

DEBTOR = "DE89370400440532013000"
VENDOR_OLD, VENDOR_NEW = "DE12100700000555444333", "DE32200411110123123123"
CLOSED = "DE65100700000123456789"
OTHER = "DE80500105175407324380"


def instruction(e2e, amount, iban, name, ref, counterparty_ref=""):
    creditor = {"name": name, "iban": iban, "address": {"town": "Berlin", "country": "DE"}}
    if counterparty_ref:
        creditor["counterparty_ref"] = counterparty_ref
    return {"end_to_end_id": e2e, "amount": amount, "currency": "EUR", "creditor": creditor,
            "remittance_information": ref}


@pytest.mark.django_db(transaction=True)
def test_erp_batch_to_bank_and_back(account_a, entity_a, make_user, tmp_path, settings, live_server):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    cloud_erp()  # DE01's ERP, reached over real HTTP
    erp = connection_upsert(code="erp-cloud-api", name="Cloud ERP", partner_kind="erp", partner_ref="erp-cloud",
                            transport="rest", endpoint=f"{live_server.url}/sandbox/erps/erp-cloud/",
                            credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                            options={"adapter": "rest_erp",
                                     "token_url": f"{live_server.url}/sandbox/erps/erp-cloud/oauth/token"}).obj
    LegalEntity.objects.filter(pk=entity_a.pk).update(erp_connection=erp)
    bank, _key = sandbox_bank_ensure(code="DEUT", name="Sandbox Deutsche Bank", bic="DEUTDEFFXXX",
                                     accounts=[{"iban": DEBTOR, "currency": "EUR", "balance": "1000000"}])
    SandboxBank.objects.filter(pk=bank.pk).update(closed_accounts=[CLOSED])
    for path in bank_dirs(bank).values():  # what `manage.py sandbox_setup` creates
        path.mkdir(parents=True, exist_ok=True)
    connection_upsert(code="deut-files", name="DEUT file drop", partner_kind="bank", partner_ref="DEUT",
                      transport="directory", endpoint=str(tmp_path / "sandbox" / "DEUT"),
                      options={"outbox_dir": "inbox", "status_dir": "outbox/status-reports",
                               "inbox_dir": "outbox/statements", "archive_dir": "archive"})
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    treasury = make_user("treasury", entities=[entity_a], username="tom")
    approvers = [make_user("approver", entities=[entity_a], username=n) for n in ("anna", "bert")]
    ApprovalRule.objects.create(entity=entity_a, name="four eyes", min_amount=Decimal("0"), approvers=2,
                                roles=["approver"])
    counterparty_upsert(entity_code="DE01", kind="vendor", code="V-1", name="Rheinmetall Teile GmbH",
                        iban=VENDOR_OLD)
    day = next_business_day(timezone.localdate() + timedelta(days=1), "EUR")
    earlier = services.payment_batch_receive(actor=clerk, data={
        "entity": "DE01", "debtor_account": DEBTOR, "requested_execution_date": day, "erp_reference": "ERP-0",
        "instructions": [instruction("OLD-1", "300.00", OTHER, "Kowalski Consulting", "INV 77")]})

    batch = services.payment_batch_receive(actor=clerk, data={
        "entity": "DE01", "debtor_account": DEBTOR, "requested_execution_date": day, "erp_reference": "ERP-1",
        "instructions": [
            instruction("E2E-DUP", "300.00", OTHER, "Kowalski Consulting", "INV 77"),
            instruction("E2E-BANK", "9500.00", VENDOR_NEW, "Rheinmetall Teile GmbH", "INV 881", "V-1"),
            instruction("E2E-CLOSED", "120.00", CLOSED, "Nordlicht Logistik AG", "INV 12"),
            instruction("E2E-OK", "45.10", OTHER, "Kowalski Consulting", "INV 78"),
        ]})
    flags = {f.instruction.end_to_end_id: f for f in PaymentFlag.objects.filter(holds=True).select_related("instruction")}
    assert {e: f.kind for e, f in flags.items()} == {"E2E-DUP": FlagKind.DUPLICATE,
                                                     "E2E-BANK": FlagKind.BANK_DETAILS_CHANGED}
    assert ExceptionCase.objects.filter(kind="payment.flagged").count() == 2
    services.payment_batch_cancel(batch_id=earlier.pk, actor=treasury, reason="duplicate of ERP-1")
    services.payment_flag_clear(flag_id=flags["E2E-DUP"].pk, actor=treasury, reason="ERP-0 cancelled instead")
    services.payment_flag_clear(flag_id=flags["E2E-BANK"].pk, actor=treasury,
                                reason="new IBAN confirmed by phone with the vendor's CFO")

    services.payment_batch_approve(batch_id=batch.pk, actor=approvers[0])
    services.payment_batch_approve(batch_id=batch.pk, actor=approvers[1])  # release -> transmit on commit
    batch.refresh_from_db()
    assert batch.status == BatchStatus.TRANSMITTED
    file = PaymentFile.objects.get(batch=batch)
    assert file.status == PaymentFile.Status.SENT and file.format == "pain.001.001.03"

    result = sandbox_tick(bank_code="DEUT")  # the bank takes the file in and answers
    assert result is not None
    connection = Connection.objects.get(code="deut-files")
    run = connection_operation_run(connection_id=connection.pk, operation="fetch_status_reports")
    assert run.status == "succeeded"

    by_e2e = {i.end_to_end_id: i for i in PaymentInstruction.objects.filter(batch=batch)}
    assert (by_e2e["E2E-CLOSED"].status, by_e2e["E2E-CLOSED"].bank_reason_code) == ("rejected", "AC04")
    assert {by_e2e[e].status for e in ("E2E-DUP", "E2E-BANK", "E2E-OK")} == {"accepted"}
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PARTIALLY_ACCEPTED
    case = ExceptionCase.objects.get(kind="payment.rejected_by_bank")
    assert "AC04 Closed account number" in case.message and case.amount == Decimal("120.00000")
    assert "Correct the creditor's bank details" in case.suggested_actions[0]
    events = set(Event.objects.filter(aggregate_type="payments.paymentinstruction").values_list("type", flat=True))
    assert {"payment_instruction.accepted", "payment_instruction.rejected"} <= events
    assert Event.objects.filter(type="payment_batch.partially_accepted").count() == 1
    # the ERP received every status (in its own dialect), the AC04 rejection with its reason, once per event
    updates = SandboxPaymentStatusUpdate.objects.filter(erp__code="erp-cloud", batch_reference="ERP-1")
    items = {(i["end_to_end_id"], i["status"], i["reason_code"]) for u in updates for i in u.payload["items"]}
    assert ("E2E-CLOSED", "rejected", "AC04") in items and ("E2E-OK", "accepted", "") in items
    assert "partially_accepted" in set(updates.values_list("status", flat=True))
    assert updates.count() == len(set(updates.values_list("event_id", flat=True)))
