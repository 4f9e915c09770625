"""pain.001 generation (XSD-valid), transmission through the bank channel, never twice."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from lxml import etree

from apps.connectors.services import connection_upsert
from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_retry
from apps.org.models import BankPartner
from apps.payments import pain001, services
from apps.payments.models import BatchStatus, PaymentFile
from apps.payments.transmission import payment_batch_transmit, payment_file_build
from apps.payments.validation import next_business_day

NS3 = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}"


def approved_batch(make_user, entity_a, instructions=None):
    clerk = make_user("ap_clerk", entities=[entity_a])
    approver = make_user("approver", entities=[entity_a])
    day = next_business_day(timezone.localdate() + timedelta(days=3), "EUR")
    batch = services.payment_batch_receive(actor=clerk, data={
        "entity": "DE01", "debtor_account": "DE89370400440532013000", "requested_execution_date": day,
        "erp_reference": "ERP-TX-1", "instructions": instructions or [
            {"end_to_end_id": "E2E-1", "amount": "1250.00", "currency": "EUR",
             "creditor": {"name": "Rheinmetall Teile GmbH", "iban": "DE12100700000555444333",
                          "address": {"street": "Hauptstr.", "building_number": "5", "postal_code": "10115",
                                      "town": "Berlin", "country": "DE"}},
             "remittance_information": "INV 1"},
            {"end_to_end_id": "E2E-2", "amount": "80.50", "currency": "EUR",
             "creditor": {"name": "Nordlicht Logistik AG", "iban": "DE32200411110123123123",
                          "address": {"town": "Hamburg", "country": "DE"}}}]})
    return services.payment_batch_approve(batch_id=batch.pk, actor=approver)


@pytest.mark.parametrize("version", ["pain.001.001.03", "pain.001.001.09"])
def test_generated_file_is_xsd_valid_with_control_sums(make_user, entity_a, account_a, version):
    BankPartner.objects.filter(pk=account_a.bank_id).update(payment_format=version)
    batch = approved_batch(make_user, entity_a)
    content, fmt, message_id = payment_file_build(batch)
    assert fmt == version
    pain001.validate(content, version)  # raises if not valid
    root = etree.fromstring(content)
    ns = f"{{urn:iso:std:iso:20022:tech:xsd:{version}}}"
    assert root.findtext(f"{ns}CstmrCdtTrfInitn/{ns}GrpHdr/{ns}NbOfTxs") == "2"
    assert root.findtext(f"{ns}CstmrCdtTrfInitn/{ns}GrpHdr/{ns}CtrlSum") == "1330.50"
    assert root.findtext(f".//{ns}GrpHdr/{ns}MsgId") == message_id
    assert [e.text for e in root.iter(f"{ns}EndToEndId")] == ["E2E-1", "E2E-2"]
    assert root.findtext(f".//{ns}Cdtr/{ns}PstlAdr/{ns}TwnNm") == "Berlin"


def test_xsd_failure_is_named_with_its_line():
    bad = b"""<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">
<CstmrCdtTrfInitn><GrpHdr><MsgId>X</MsgId></GrpHdr></CstmrCdtTrfInitn></Document>"""
    from apps.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match=r"does not conform to the XSD: line 2: .*CreDtTm"):
        pain001.validate(bad, "pain.001.001.03")


@pytest.fixture
def bank_dir(tmp_path, settings, account_a):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "bank").mkdir()  # the mounted file drop
    connection_upsert(code="deut-drop", name="DEUT file drop", partner_kind="bank", partner_ref="DEUT",
                      transport="directory", endpoint=str(tmp_path / "bank"), options={"outbox_dir": "outbox"})
    return tmp_path / "bank"


def test_approved_batch_is_sent_once(make_user, entity_a, bank_dir):
    batch = approved_batch(make_user, entity_a)
    file = payment_batch_transmit(batch_id=batch.pk)
    assert file.status == PaymentFile.Status.SENT and file.attempts == 1
    sent = list((bank_dir / "outbox").iterdir())
    assert len(sent) == 1 and sent[0].read_bytes() == file.raw_document.content.open("rb").read()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.TRANSMITTED
    again = payment_batch_transmit(batch_id=batch.pk)
    assert again.pk == file.pk and again.attempts == 1
    assert len(list((bank_dir / "outbox").iterdir())) == 1


def test_send_failure_opens_a_case_and_retry_sends_once(make_user, entity_a, account_a, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    batch = approved_batch(make_user, entity_a)
    file = payment_batch_transmit(batch_id=batch.pk)  # no connection configured for DEUT yet
    assert file.status == PaymentFile.Status.GENERATED and "No active connection" in file.last_error
    case = ExceptionCase.objects.get(kind="payment.transmission_failed")
    assert case.amount == Decimal("1330.50000") and "was not sent" in case.message
    (tmp_path / "bank").mkdir()
    connection_upsert(code="deut-drop", name="DEUT file drop", partner_kind="bank", partner_ref="DEUT",
                      transport="directory", endpoint=str(tmp_path / "bank"), options={"outbox_dir": "outbox"})
    case = case_retry(case_id=case.pk, actor=None)
    assert case.status == "resolved"
    file.refresh_from_db()
    assert file.status == PaymentFile.Status.SENT and file.attempts == 2
    assert PaymentFile.objects.count() == 1 and len(list((tmp_path / "bank" / "outbox").iterdir())) == 1


def test_a_send_that_did_not_finish_is_never_repeated_blindly(make_user, entity_a, bank_dir):
    batch = approved_batch(make_user, entity_a)
    content, fmt, message_id = payment_file_build(batch)
    from apps.core.services import document_store

    doc, _ = document_store(content=content, source="bank:DEUT", media_type="application/xml",
                            direction="outbound")
    PaymentFile.objects.create(batch=batch, bank_partner=batch.debtor_account.bank, format=fmt,
                               message_id=message_id, raw_document=doc, status=PaymentFile.Status.SENDING, attempts=1)
    file = payment_batch_transmit(batch_id=batch.pk)
    assert file.status == PaymentFile.Status.SENDING and file.attempts == 1
    assert not (bank_dir / "outbox").exists() or not list((bank_dir / "outbox").iterdir())
    assert "may or may not have reached the bank" in ExceptionCase.objects.get(
        kind="payment.transmission_failed").message


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "pain001").is_dir(),
                    reason="shared samples not available")
def test_real_world_pain001_samples_validate_against_the_packaged_xsd():
    samples = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "pain001"
    # (pain001_v09_hbci4java_minimal.xml uses the German DK namespace urn:sepade, not ISO's: not comparable.)
    for name in ("pain001_v03_svapnil_sepa_example.xml", "pain001_v03_lt_international_usd.xml",
                 "pain001_v03_svapnil_swift_example.xml"):
        pain001.validate((samples / name).read_bytes(), "pain.001.001.03")
    from apps.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match=r"line 27: .*ReqdExctnDt.*'YYYY-MM-DD'"):  # a template, not a file
        pain001.validate((samples / "pain001_v03_goldmansachs_sepa.xml").read_bytes(), "pain.001.001.03")


def test_usd_ach_account_gets_a_valid_nacha_file(make_user, entity_b, account_b, settings, tmp_path):
    from apps.org.models import BankAccount
    from apps.payments import nacha

    settings.MEDIA_ROOT = tmp_path
    BankPartner.objects.filter(pk=account_b.bank_id).update(payment_format="nacha")
    BankAccount.objects.filter(pk=account_b.pk).update(ach_company_id="1234567890")
    clerk = make_user("ap_clerk", entities=[entity_b])
    approver = make_user("approver", entities=[entity_b])
    day = next_business_day(timezone.localdate() + timedelta(days=3), "USD")
    batch = services.payment_batch_receive(actor=clerk, data={
        "entity": "US01", "debtor_account": "000123456789", "requested_execution_date": day,
        "erp_reference": "US-RUN-1", "instructions": [
            {"end_to_end_id": "US-1", "amount": "3120.45", "currency": "USD",
             "creditor": {"name": "Lakeside Office Supply LLC", "account_number": "4455667788",
                          "routing": "026009593"}, "remittance_information": "INV 90112"}]})
    services.payment_batch_approve(batch_id=batch.pk, actor=approver)
    batch.refresh_from_db()
    content, fmt, _ = payment_file_build(batch)
    assert fmt == "nacha"
    nacha.validate(content)
    lines = content.decode().splitlines()
    assert all(len(line) == 94 for line in lines) and len(lines) % 10 == 0
    entry = next(line for line in lines if line.startswith("6"))
    assert entry[1:3] == "22" and entry[3:12] == "026009593" and entry[29:39] == "0000312045"
