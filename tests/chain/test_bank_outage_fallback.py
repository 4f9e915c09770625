"""The chain over real HTTP and files: the sandbox bank's API goes down, the hub opens ONE connector.unavailable
case, routes the payment file to the fallback file drop, and closes the case when the API is back."""

import pytest
from django.utils import timezone

from apps.connectors.models import Connection
from apps.connectors.services import bank_channel_for_partner, connection_upsert
from apps.core.services import document_store
from apps.exceptions.models import ExceptionCase
from apps.sandbox.models import SandboxMessage
from apps.sandbox.services import bank_dirs, sandbox_bank_ensure, sandbox_faults_set

PAIN001 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn>
<GrpHdr><MsgId>OUTAGE-%s</MsgId><CreDtTm>2026-11-24T10:00:00</CreDtTm><NbOfTxs>1</NbOfTxs><CtrlSum>10.00</CtrlSum>
<InitgPty><Nm>Acme GmbH</Nm></InitgPty></GrpHdr>
<PmtInf><PmtInfId>P1</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>1</NbOfTxs><CtrlSum>10.00</CtrlSum>
<ReqdExctnDt>2026-11-26</ReqdExctnDt><Dbtr><Nm>Acme GmbH</Nm></Dbtr>
<DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct><DbtrAgt><FinInstnId><BIC>DEUTDEFFXXX</BIC>
</FinInstnId></DbtrAgt><CdtTrfTxInf><PmtId><EndToEndId>E1</EndToEndId></PmtId>
<Amt><InstdAmt Ccy="EUR">10.00</InstdAmt></Amt><Cdtr><Nm>Vendor</Nm></Cdtr>
<CdtrAcct><Id><IBAN>DE12100700000555444333</IBAN></Id></CdtrAcct></CdtTrfTxInf></PmtInf>
</CstmrCdtTrfInitn></Document>"""



@pytest.mark.django_db(transaction=True)
def test_bank_api_outage_uses_the_file_drop_and_the_case_closes_on_recovery(no_connector_wait, live_server,
        bank_partner, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    bank, key = sandbox_bank_ensure(code="DEUT", name="Sandbox Deutsche Bank", bic="DEUTDEFFXXX",
                                    accounts=[{"iban": "DE89370400440532013000", "currency": "EUR",
                                               "balance": "1000"}])
    for path in bank_dirs(bank).values():
        path.mkdir(parents=True, exist_ok=True)
    connection_upsert(code="deut-files", name="DEUT file drop", partner_kind="bank", partner_ref="DEUT",
                      transport="directory", endpoint=str(tmp_path / "sandbox" / "DEUT"),
                      options={"outbox_dir": "inbox", "status_dir": "outbox/status-reports",
                               "inbox_dir": "outbox/statements", "archive_dir": "archive"})
    connection_upsert(code="deut-api", name="DEUT API", partner_kind="bank", partner_ref="DEUT", transport="rest",
                      endpoint=f"{live_server.url}/sandbox/banks/DEUT/", options={"auth": "api_key"},
                      credentials={"api_key": key}, fallback_code="deut-files", max_attempts=2, timeout_seconds=5)
    sandbox_faults_set(bank_code="DEUT", outage_start=timezone.now() - timezone.timedelta(minutes=1),
                       outage_end=timezone.now() + timezone.timedelta(hours=1))

    for n in range(3):  # three payment files during the outage: all through the fallback, ONE case
        doc, _ = document_store(content=PAIN001 % str(n).encode(), source="bank:DEUT", media_type="application/xml",
                                filename=f"outage-{n}.xml", direction="outbound")
        channel = bank_channel_for_partner("DEUT")
        channel.send_payment_file(doc)
        assert channel.last_run.status == "succeeded" and channel.last_run.via_fallback
    assert len(list((tmp_path / "sandbox" / "DEUT" / "inbox").iterdir())) == 3
    cases = ExceptionCase.objects.filter(kind="connector.unavailable")
    assert cases.count() == 1 and cases.get().status == "open" and cases.get().occurrences >= 3
    assert "503" in cases.get().message or "unavailable" in cases.get().message.lower()

    sandbox_faults_set(bank_code="DEUT", clear=True)  # the bank is back
    doc, _ = document_store(content=PAIN001 % b"back", source="bank:DEUT", media_type="application/xml",
                            filename="back.xml", direction="outbound")
    channel = bank_channel_for_partner("DEUT")
    channel.send_payment_file(doc)
    assert channel.last_run.status == "succeeded" and not channel.last_run.via_fallback
    assert SandboxMessage.objects.filter(msg_id="OUTAGE-back").exists()  # arrived over the API
    case = ExceptionCase.objects.get(kind="connector.unavailable")
    assert case.status == "resolved"
    assert Connection.objects.get(code="deut-api").circuit_state == "closed"
