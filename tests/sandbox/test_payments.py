"""pain.001 in, pain.002 out: schema, rules and their ISO reason codes, duplicates, hostile XML, API key."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from apps.sandbox.models import PaymentStatus, SandboxMessage, SandboxPayment
from tests.sandbox.builders import BAD_CHECKSUM, CLOSED, DEBTOR, INTERNAL, P, T, one, pain001
from tests.sandbox.conftest import SAMPLES, assert_valid, group, tx_statuses, xsd


def test_pain001_v09_accepted_answers_valid_pain002_v10(bank_client):
    response = bank_client.post_pain(one("E2E-09", version="09"), HTTP_X_FILENAME="batch.xml")
    assert response.status_code == 202
    body = response.json()
    assert body["group_status"] == "ACCP" and body["version"] == "pain.001.001.09" and body["id"]
    reports = bank_client.reports()
    assert len(reports) == 1
    assert_valid(xsd("pain.002.001.10.xsd"), reports[0])
    assert group(reports[0]) == ("MSG-E2E-09", "ACCP", "")
    assert tx_statuses(reports[0]) == {"E2E-09": ("ACCP", "")}
    root = etree.fromstring(reports[0])
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"}
    assert root.findtext(".//p:OrgnlPmtInfAndSts/p:OrgnlPmtInfId", namespaces=ns) == "PMT-1"
    assert root.findtext(".//p:OrgnlGrpInfAndSts/p:OrgnlMsgNmId", namespaces=ns) == "pain.001.001.09"


def test_pain001_v03_accepted_answers_pain002_v03(bank_client):
    response = bank_client.post_pain(one("E2E-03"))
    assert response.status_code == 202 and response.json()["group_status"] == "ACCP"
    report = bank_client.reports()[0]
    assert etree.QName(etree.fromstring(report)).namespace == "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
    assert group(report) == ("MSG-E2E-03", "ACCP", "")
    assert tx_statuses(report) == {"E2E-03": ("ACCP", "")}
    pytest.skip("accepted: the only pain.002.001.03 schema in shared/samples/xsd is the German DK variant, which "
                "allows RJCT statuses only (the ISO pain.002.001.03.xsd is not available); rejections are checked "
                "against it in test_pain002_v03_rejections_valid_against_dk_schema")


def test_pain002_v03_rejections_valid_against_dk_schema(bank_client):
    bank_client.post_pain(pain001(msg_id="MSG-DK", pmt_infs=[P([T("E2E-DK1", iban=CLOSED), T("E2E-DK2", iban=BAD_CHECKSUM)])]))
    report = bank_client.reports()[0]
    assert_valid(xsd("pain.002.001.03_DK-variant.xsd"), report)
    assert group(report) == ("MSG-DK", "RJCT", "")


@pytest.mark.parametrize("version", ["03", "09"])
def test_each_rule_gives_its_reason_code(bank_client, version):
    bank_client.post_pain(one("E2E-FIRST", version=version, msg_id=f"FIRST-{version}"))
    txs = [
        T("E2E-OK", amount="10.00"),
        T("E2E-CLOSED", iban=CLOSED),
        T("E2E-LIMIT", amount="5000.01"),
        T("E2E-BIC", bic="ABCDXX22"),
        T("E2E-IBAN", iban=BAD_CHECKSUM),
        T("E2E-FIRST", amount="20.00"),  # same end-to-end id as an accepted payment
        T("E2E-OK", amount="10.00"),  # repeated within the file
    ]
    response = bank_client.post_pain(pain001(version=version, msg_id=f"RULES-{version}", pmt_infs=[P(txs)]))
    assert response.status_code == 202 and response.json()["group_status"] == "PART"
    report = bank_client.reports()[-1]
    if version == "09":
        assert_valid(xsd("pain.002.001.10.xsd"), report)
    statuses = tx_statuses(report)
    assert statuses == {
        "E2E-OK": ("RJCT", "AM05"),  # the last of the two E2E-OK wins in this dict; see the list below
        "E2E-CLOSED": ("RJCT", "AC04"),
        "E2E-LIMIT": ("RJCT", "AM02"),
        "E2E-BIC": ("RJCT", "RC01"),
        "E2E-IBAN": ("RJCT", "AC01"),
        "E2E-FIRST": ("RJCT", "AM05"),
    }
    root = etree.fromstring(report)
    ns = {"p": etree.QName(root).namespace}
    ordered = [(t.findtext("p:OrgnlEndToEndId", namespaces=ns), t.findtext("p:TxSts", namespaces=ns))
               for t in root.iterfind(".//p:TxInfAndSts", ns)]
    assert ordered[0] == ("E2E-OK", "ACCP") and ordered[-1] == ("E2E-OK", "RJCT")
    assert {ref.findtext("p:OrgnlPmtInfId", namespaces=ns) for ref in root.iterfind(".//p:OrgnlPmtInfAndSts", ns)} == {"PMT-1"}
    payments = SandboxPayment.objects.filter(message__msg_id=f"RULES-{version}").order_by("position")
    assert [(p.end_to_end_id, p.status, p.reason) for p in payments][:2] == [
        ("E2E-OK", PaymentStatus.ACCEPTED, ""), ("E2E-CLOSED", PaymentStatus.REJECTED, "AC04")]


def test_unknown_debtor_account_and_wrong_currency(bank_client):
    bank_client.post_pain(pain001(msg_id="MSG-DEBTOR", pmt_infs=[
        P([T("E2E-NOACCT")], pmt_inf_id="P-UNKNOWN", debtor_iban="DE02120300000000202051"),
        P([T("E2E-USD", currency="USD")], pmt_inf_id="P-USD"),
    ]))
    report = bank_client.reports()[0]
    assert group(report)[1] == "RJCT"
    assert tx_statuses(report) == {"E2E-NOACCT": ("RJCT", "AC02"), "E2E-USD": ("RJCT", "AM03")}


def test_all_accepted_group_accp_and_acsp_when_configured(bank, bank_client):
    _bank, _key = bank
    _bank.accept_status = "ACSP"
    _bank.save()
    bank_client.post_pain(pain001(msg_id="MSG-ACSP", pmt_infs=[P([T("A1"), T("A2", iban=INTERNAL)])]))
    report = bank_client.reports()[0]
    assert group(report)[1] == "ACSP"
    assert tx_statuses(report) == {"A1": ("ACSP", ""), "A2": ("ACSP", "")}


def test_duplicate_msg_id_rejects_whole_file(bank_client):
    assert bank_client.post_pain(one("D-1", msg_id="MSG-DUP")).json()["group_status"] == "ACCP"
    response = bank_client.post_pain(pain001(msg_id="MSG-DUP", pmt_infs=[P([T("D-2"), T("D-3")])]))
    assert response.status_code == 202
    assert response.json()["group_status"] == "RJCT" and response.json()["duplicate"] is True
    report = bank_client.reports()[-1]
    assert group(report) == ("MSG-DUP", "RJCT", "DU01")
    assert tx_statuses(report) == {"D-2": ("RJCT", "DU01"), "D-3": ("RJCT", "DU01")}
    assert_valid(xsd("pain.002.001.03_DK-variant.xsd"), report)
    assert SandboxPayment.objects.filter(end_to_end_id__in=["D-2", "D-3"], status=PaymentStatus.REJECTED).count() == 2


def test_idempotency_key_repeat_is_not_a_duplicate(bank_client):
    first = bank_client.post_pain(one("I-1"), HTTP_IDEMPOTENCY_KEY="k1").json()
    again = bank_client.post_pain(one("I-1"), HTTP_IDEMPOTENCY_KEY="k1").json()
    assert again["id"] == first["id"] and again["group_status"] == "ACCP"
    assert SandboxMessage.objects.count() == 1 and len(bank_client.reports()) == 1


@pytest.mark.parametrize("nb, ctrl, reason", [(3, None, "AM18"), (None, "999.99", "AM10")])
def test_group_control_mismatch_rejects_file(bank_client, nb, ctrl, reason):
    xml = pain001(msg_id=f"MSG-{reason}", pmt_infs=[P([T("C-1"), T("C-2")])], nb_of_txs=nb, ctrl_sum=ctrl)
    assert bank_client.post_pain(xml).json()["group_status"] == "RJCT"
    report = bank_client.reports()[0]
    assert group(report) == (f"MSG-{reason}", "RJCT", reason)
    assert tx_statuses(report) == {"C-1": ("RJCT", reason), "C-2": ("RJCT", reason)}


def test_payment_information_control_mismatch_rejects_that_block_only(bank_client):
    xml = pain001(msg_id="MSG-PI", pmt_infs=[P([T("OK-1")], pmt_inf_id="GOOD"),
                                             P([T("BAD-1"), T("BAD-2")], pmt_inf_id="BAD", ctrl_sum="1.00")])
    assert bank_client.post_pain(xml).json()["group_status"] == "PART"
    assert tx_statuses(bank_client.reports()[0]) == {"OK-1": ("ACCP", ""), "BAD-1": ("RJCT", "AM10"),
                                                     "BAD-2": ("RJCT", "AM10")}


HOSTILE = {
    "billion laughs": b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn>&lol2;</CstmrCdtTrfInitn></Document>""",
    "xxe": b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn>&xxe;</CstmrCdtTrfInitn></Document>""",
    "external dtd": b"""<?xml version="1.0"?>
<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/evil.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>""",
    "utf-16 doctype": '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY a "b">]><Document/>'.encode("utf-16"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_refused(bank_client, name):
    response = bank_client.post_pain(HOSTILE[name])
    assert response.status_code == 400
    assert "hostile" in response.json()["message"] or "DOCTYPE" in response.json()["message"]
    assert SandboxMessage.objects.count() == 0 and bank_client.reports() == []


@pytest.mark.parametrize("xml, words", [
    (b"<Document><unclosed></Document>", "well-formed"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>', "not a pain.001"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>', "schema"),
])
def test_malformed_or_invalid_files_refused(bank_client, xml, words):
    response = bank_client.post_pain(xml)
    assert response.status_code == 400 and words in response.json()["message"]
    assert response.json()["extra"] == {"reason": "FF01"}
    assert SandboxMessage.objects.count() == 0


def test_api_key_required(bank_client):
    assert bank_client.call("post", "payment-files", data=one(), content_type="application/xml",
                            HTTP_X_API_KEY="").status_code == 401
    assert bank_client.call("get", "statements", HTTP_X_API_KEY="wrong").status_code == 401
    assert bank_client.call("get", "status-reports", HTTP_X_API_KEY="wrong").status_code == 401
    assert bank_client.call("post", "faults", data={}, content_type="application/json",
                            HTTP_X_API_KEY="wrong").status_code == 401
    assert SandboxMessage.objects.count() == 0
    assert bank_client.call("get", "").status_code == 200  # the key works: bank details


def test_payments_alias_and_ack_hides_document(bank_client):
    assert bank_client.call("post", "payments/", data=one("AL-1"), content_type="application/xml").status_code == 202
    items = bank_client.call("get", "status-reports/").json()["items"]
    assert len(items) == 1 and items[0]["href"].endswith(f"/status-reports/{items[0]['id']}/content")
    assert bank_client.call("post", f"status-reports/{items[0]['id']}/ack").status_code == 200
    assert bank_client.call("get", "status-reports").json()["items"] == []
    assert len(bank_client.call("get", "status-reports?all=1").json()["items"]) == 1


def test_real_world_pain001_samples_are_answered(bank_client):
    samples = sorted((SAMPLES / "pain001").glob("pain001_v03_*.xml")) if (SAMPLES / "pain001").is_dir() else []
    if not samples:
        pytest.skip("shared/samples/pain001 is not available")
    answered = 0
    for path in samples:
        content = path.read_bytes()
        if b"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03" not in content[:600]:
            continue  # national variants (e.g. Swiss .ch.02) use another namespace
        response = bank_client.post_pain(content, HTTP_X_FILENAME=path.name)
        assert response.status_code in (202, 400), path.name
        if response.status_code == 202:
            answered += 1
            report = bank_client.call("get", f"status-reports/{response.json()['status_reports'][0]['id']}").content
            assert group(report)[0] and tx_statuses(report), path.name
        else:
            assert "schema" in response.json()["message"], (path.name, response.json())
    assert answered >= 3
