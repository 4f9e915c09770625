"""Fixtures for the sandbox bank: a bank with accounts, its API key, a client that sends it, XSDs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client
from lxml import etree

from apps.sandbox.services import sandbox_bank_ensure
from tests.sandbox.builders import BANK_BIC, CLOSED, DEBTOR, INTERNAL

XSD_DIR = Path(os.environ.get("FINOPS_XSD_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "xsd")
SAMPLES = XSD_DIR.parent

NS002 = {"p3": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03", "p10": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"}


@pytest.fixture(autouse=True)
def sandbox_root(settings, tmp_path):
    settings.SANDBOX_ROOT = str(tmp_path / "sandbox")
    return Path(settings.SANDBOX_ROOT)


def make_bank(code: str = "SBX", statement_format: str = "camt053"):
    bank, key = sandbox_bank_ensure(
        code=code, name="Sandbox Bank", bic=BANK_BIC, statement_format=statement_format,
        accounts=[{"iban": DEBTOR, "balance": "10000.00", "limit": "5000.00", "name": "Acme GmbH"},
                  {"iban": INTERNAL, "balance": "0.00", "name": "Acme Payroll"},
                  {"number": "000123456789", "currency": "USD", "balance": "500.00"}],
    )
    bank.closed_accounts = [CLOSED]
    bank.save()
    return bank, key


@pytest.fixture
def bank(db):
    return make_bank()


@pytest.fixture
def bank_client(bank):
    """``bank_client.post_pain(xml)`` etc.: a Django test client that carries the bank's API key."""
    _bank, key = bank

    class BankClient(Client):
        base = f"/sandbox/banks/{_bank.code}"

        def call(self, method: str, path: str, **kw):
            kw.setdefault("HTTP_X_API_KEY", key)
            return getattr(self, method)(f"{self.base}/{path}", **kw)

        def post_pain(self, xml: bytes, **kw):
            return self.call("post", "payment-files", data=xml, content_type="application/xml", **kw)

        def reports(self) -> list[bytes]:
            listing = self.call("get", "status-reports").json()["items"]
            return [self.call("get", f"status-reports/{item['id']}/content").content for item in listing]

    return BankClient()


def xsd(name: str) -> etree.XMLSchema:
    path = XSD_DIR / name
    if not path.exists():
        pytest.skip(f"{path} is not available (the ISO schemas live in shared/samples/xsd, outside the repo)")
    return etree.XMLSchema(etree.parse(str(path)))


def assert_valid(schema: etree.XMLSchema, content: bytes) -> None:
    doc = etree.fromstring(content)
    assert schema.validate(etree.ElementTree(doc)), schema.error_log


def tx_statuses(report: bytes) -> dict[str, tuple[str, str]]:
    """{OrgnlEndToEndId: (TxSts, reason code)} of a pain.002 (either version)."""
    root = etree.fromstring(report)
    ns = {"p": etree.QName(root).namespace}
    out = {}
    for tx in root.iterfind(".//p:TxInfAndSts", ns):
        out[tx.findtext("p:OrgnlEndToEndId", namespaces=ns)] = (
            tx.findtext("p:TxSts", namespaces=ns), tx.findtext("p:StsRsnInf/p:Rsn/p:Cd", namespaces=ns) or "")
    return out


def group(report: bytes) -> tuple[str, str, str]:
    """(OrgnlMsgId, GrpSts, group reason code)."""
    root = etree.fromstring(report)
    ns = {"p": etree.QName(root).namespace}
    grp = root.find(".//p:OrgnlGrpInfAndSts", ns)
    return (grp.findtext("p:OrgnlMsgId", namespaces=ns), grp.findtext("p:GrpSts", namespaces=ns) or "",
            grp.findtext("p:StsRsnInf/p:Rsn/p:Cd", namespaces=ns) or "")
