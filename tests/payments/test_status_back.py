"""Status back: pain.002 through bank_import, and returns on statements, applied once, explained."""

import pytest

from apps.exceptions.models import ExceptionCase
from apps.payments.models import BatchStatus, InstructionStatus, PaymentInstruction
from apps.payments.reasons import explain
from apps.payments.transmission import payment_batch_transmit
from apps.statements.services import statement_file_import
from tests.payments.test_transmission import approved_batch
from tests.statements.builders import E, camt


def pain002(original_message_id: str, txs, group: str = "PART", version: str = "03", msg_id: str = "STS-1") -> bytes:
    body = "".join(
        f"<TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{status}</TxSts>"
        + (f"<StsRsnInf><Rsn><Cd>{reason}</Cd></Rsn><AddtlInf>closed 2026-10-01</AddtlInf></StsRsnInf>"
           if reason else "") + "</TxInfAndSts>"
        for e2e, status, reason in txs
    )
    ns = f"urn:iso:std:iso:20022:tech:xsd:pain.002.001.{version}"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{ns}"><CstmrPmtStsRpt>
  <GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>2026-11-25T09:00:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts><OrgnlMsgId>{original_message_id}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
    <GrpSts>{group}</GrpSts></OrgnlGrpInfAndSts>
  <OrgnlPmtInfAndSts><OrgnlPmtInfId>ERP-TX-1</OrgnlPmtInfId>{body}</OrgnlPmtInfAndSts>
</CstmrPmtStsRpt></Document>""".encode()


@pytest.fixture
def sent(make_user, entity_a, account_a, tmp_path, settings):
    from apps.connectors.services import connection_upsert

    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "bank").mkdir()
    connection_upsert(code="deut-drop", name="DEUT", partner_kind="bank", partner_ref="DEUT", transport="directory",
                      endpoint=str(tmp_path / "bank"))
    batch = approved_batch(make_user, entity_a)
    file = payment_batch_transmit(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.TRANSMITTED
    return batch, file


@pytest.mark.parametrize("version", ["03", "10"])
def test_pain002_with_one_ac04_rejection(sent, version):
    batch, file = sent
    content = pain002(file.message_id, [("E2E-1", "RJCT", "AC04"), ("E2E-2", "ACCP", "")], version=version)
    result = statement_file_import(content=content, filename="pain002.xml", source="test")
    assert result.status == "imported" and result.format == f"pain.002.001.{version}"
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PARTIALLY_ACCEPTED
    rejected, accepted = PaymentInstruction.objects.order_by("position")
    assert (rejected.status, rejected.bank_status, rejected.bank_reason_code) == ("rejected", "RJCT", "AC04")
    assert accepted.status == InstructionStatus.ACCEPTED
    case = ExceptionCase.objects.get(kind="payment.rejected_by_bank")
    assert "AC04 Closed account number: the creditor's account is closed." in case.message
    assert "Bank says: closed 2026-10-01" in case.message
    assert case.suggested_actions == list(explain("AC04").actions)
    assert case.subject == rejected and case.raw_document.sha256 == result.sha256
    # The same statuses again, in another file: nothing changes twice.
    again = statement_file_import(content=pain002(file.message_id, [("E2E-1", "RJCT", "AC04")], msg_id="STS-2"),
                                  filename="pain002-again.xml", source="test")
    assert again.status == "imported"
    assert ExceptionCase.objects.get(kind="payment.rejected_by_bank").occurrences == 1
    assert statement_file_import(content=content, filename="dup.xml", source="test").status == "duplicate"


def test_group_rejection_rejects_the_batch(sent):
    batch, file = sent
    content = pain002(file.message_id, [], group="RJCT").replace(
        b"<GrpSts>RJCT</GrpSts>", b"<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf>")
    statement_file_import(content=content, filename="grp.xml", source="test")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.REJECTED
    assert set(PaymentInstruction.objects.values_list("status", flat=True)) == {"rejected"}


def test_status_report_for_an_unknown_message_opens_a_case(sent):
    result = statement_file_import(content=pain002("NOT-OURS-1", [("X", "ACCP", "")]), filename="x.xml",
                                   source="test")
    assert result.status == "imported"
    case = ExceptionCase.objects.get(kind="payment.status_unmatched")
    assert "'NOT-OURS-1', which we never sent" in case.message


def test_return_on_a_statement_moves_the_payment_to_returned(sent):
    batch, file = sent
    statement_file_import(content=pain002(file.message_id, [("E2E-1", "ACCP", ""), ("E2E-2", "ACCP", "")],
                                          group="ACCP"), filename="ok.xml", source="test")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.ACCEPTED
    from django.db import transaction

    from apps.core.events import outbox_relay

    statement_file_import(content=camt(entries=[E("1250.00", ref="RT9", e2e="E2E-1", code=("PMNT", "ICDT", "RRTN"),
                                                  return_reason="AC04")]), filename="ret.xml", source="test")
    with transaction.atomic():
        outbox_relay()  # the test transaction never commits: relay by hand, as the task would
    instruction = PaymentInstruction.objects.get(end_to_end_id="E2E-1")
    assert instruction.status == InstructionStatus.RETURNED and instruction.bank_reason_code == "AC04"
    assert ExceptionCase.objects.filter(kind="payment.rejected_by_bank", subject_id=str(instruction.pk)).exists()


def test_reason_taxonomy_covers_iso_and_nacha():
    assert explain("AM04").nature == "failure" and "Insufficient funds" in explain("AM04").text
    assert explain("ACSC").nature == "success" and explain("PDNG").nature == "pending"
    assert explain("R01").text == "Insufficient funds." and explain("R85").nature == "failure"
    assert explain("ZZ99").text.startswith("Reason code ZZ99")


def test_rejected_payment_is_corrected_and_resent_or_cancelled(sent, make_user, entity_a):
    from apps.payments.services import payment_instruction_cancel, payment_instruction_resend

    batch, file = sent
    statement_file_import(content=pain002(file.message_id, [("E2E-1", "RJCT", "AC04"), ("E2E-2", "RJCT", "AM04")]),
                          filename="rj.xml", source="test")
    treasury = make_user("treasury", entities=[entity_a])
    first, second = PaymentInstruction.objects.filter(batch=batch).order_by("position")
    new_batch = payment_instruction_resend(instruction_id=first.pk, actor=treasury,
                                           creditor_iban="DE80500105175407324380", reason="vendor's new account")
    replacement = new_batch.instructions.get()
    assert new_batch.status == BatchStatus.PENDING_APPROVAL and replacement.replaces == first
    assert (replacement.end_to_end_id, replacement.creditor_iban) == ("E2E-1-R1", "DE80500105175407324380")
    assert ExceptionCase.objects.get(subject_id=str(first.pk), kind="payment.rejected_by_bank").status == "resolved"
    payment_instruction_cancel(instruction_id=second.pk, actor=treasury, reason="invoice paid by card instead")
    second.refresh_from_db()
    assert second.status == InstructionStatus.CANCELLED
    assert ExceptionCase.objects.get(subject_id=str(second.pk), kind="payment.rejected_by_bank").status == "resolved"
    from apps.core.models import Event

    assert Event.objects.filter(type="payment_instruction.cancelled").count() == 1
    assert Event.objects.filter(type="payment_instruction.resent").count() == 1
    from apps.core.errors import Conflict

    with pytest.raises(Conflict, match="only rejected or returned"):
        payment_instruction_resend(instruction_id=replacement.pk, actor=treasury, reason="x")
