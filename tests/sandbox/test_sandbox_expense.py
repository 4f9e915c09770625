"""The sandbox expense platform (Concur-like): approved reports with entries, pagination with NextPage, the
approved-and-not-exported filter, idempotent export marks, seeding rules, the signed webhook push."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from apps.core.errors import ValidationFailed
from apps.sandbox.expense_services import (
    sandbox_expense_platform_ensure,
    sandbox_expense_report_approve,
    sandbox_expense_report_seed,
    webhook_secret,
)
from apps.sandbox.models import SandboxExpenseReport
from tests.sandbox.partner_builders import API_KEY, api_client, expense_platform, report

BASE = "/sandbox/expense/concur"


@pytest.fixture
def platform(db):
    return expense_platform()


@pytest.fixture
def api(platform):
    return api_client(BASE)


def seed(*reports: dict) -> None:
    for item in reports:
        sandbox_expense_report_seed(platform_code="concur", report=item)


def test_report_in_concur_shape(api):
    seed(report("R-1001"))
    [item] = api.call("get", "reports?approvalStatusCode=A_APPR&exported=false").json()["Items"]
    assert {k: item[k] for k in ("ReportID", "EmployeeID", "OrgUnit1", "CurrencyCode", "Total", "ApprovalStatusCode",
                                 "ApproverLoginID", "SubmitDate", "ApprovalDate", "ExportState")} == {
        "ReportID": "R-1001", "EmployeeID": "E-0042", "OrgUnit1": "DE01", "CurrencyCode": "EUR", "Total": "180.47",
        "ApprovalStatusCode": "A_APPR", "ApproverLoginID": "m.weber", "SubmitDate": "2026-11-20T08:00:00Z",
        "ApprovalDate": "2026-11-21T10:00:00Z", "ExportState": None}
    train = item["Entries"][0]
    assert train == {
        "EntryID": "1", "TransactionDate": "2026-11-18", "ExpenseTypeCode": "TRAIN", "ExpenseTypeName": "Train",
        "PostedAmount": "115.97", "TransactionAmount": "125.82", "TransactionCurrencyCode": "USD",
        "ExchangeRate": "0.9217", "TaxCode": "V19", "TaxAmount": "18.52", "CostCenter": "CC100", "ProjectCode": "P-7",
        "VendorDescription": "Deutsche Bahn", "ReceiptImageID": "RCPT-88", "Description": "Train Berlin"}
    assert item["Entries"][1]["TransactionCurrencyCode"] == "EUR" and item["Entries"][1]["ExchangeRate"] == "1"
    assert api.call("get", "reports/R-1001").json()["ReportID"] == "R-1001"
    assert api.call("get", "reports/R-404").status_code == 404


def test_pagination_and_the_approved_not_exported_filter(api):
    seed(*[report(f"R-{n}") for n in range(1, 6)], report("R-PEND", status="pending"))
    page = api.call("get", "reports?approvalStatusCode=A_APPR&exported=false&limit=2").json()
    ids = [r["ReportID"] for r in page["Items"]]
    while page["NextPage"]:
        assert page["NextPage"].startswith("http://testserver/sandbox/expense/concur/reports?")
        page = api.get(page["NextPage"], HTTP_X_API_KEY=API_KEY).json()
        ids += [r["ReportID"] for r in page["Items"]]
    assert ids == ["R-1", "R-2", "R-3", "R-4", "R-5"]
    assert [r["ReportID"] for r in api.call("get", "reports?approvalStatusCode=A_PEND").json()["Items"]] == ["R-PEND"]
    api.call("post", "reports/R-2/export", {"state": "exported", "reference": "JE-2026-000001"})
    remaining = api.call("get", "reports?approvalStatusCode=A_APPR&exported=false").json()["Items"]
    assert [r["ReportID"] for r in remaining] == ["R-1", "R-3", "R-4", "R-5"]
    assert api.call("get", "reports?exported=maybe").status_code == 400


def test_export_marks_are_idempotent(api):
    seed(report("R-1"), report("R-PEND", status="pending"))
    first = api.call("post", "reports/R-1/export", {"state": "exported", "reference": "JE-1"})
    assert first.status_code == 200 and first.json() == {"ReportID": "R-1", "ExportState": "exported",
                                                         "ExportReference": "JE-1", "Changed": True}
    again = api.call("post", "reports/R-1/export", {"state": "exported", "reference": "JE-2"}).json()
    assert (again["Changed"], again["ExportReference"]) == (False, "JE-1")
    paid = api.call("post", "reports/R-1/export", {"state": "paid", "reference": "PAY-1"}).json()
    assert (paid["ExportState"], paid["Changed"]) == ("paid", True)
    back = api.call("post", "reports/R-1/export", {"state": "exported"}).json()
    assert (back["ExportState"], back["Changed"]) == ("paid", False)  # never back from paid
    row = SandboxExpenseReport.objects.get(report_id="R-1")
    assert row.exported_at and row.paid_at and row.export_reference == "JE-1"
    assert api.call("post", "reports/R-PEND/export", {"state": "exported"}).status_code == 409
    assert api.call("post", "reports/R-1/export", {"state": "deleted"}).status_code == 400
    assert api.call("post", "reports/R-404/export", {"state": "paid"}).status_code == 404


def test_seeding_checks_amounts_and_is_idempotent(platform):
    bad_rate = report("R-X")
    bad_rate["entries"][0]["amount"] = "115.98"
    with pytest.raises(ValidationFailed, match=r"entries\[0\].amount: 115.98 is not 125.82 USD x 0.9217 = 115.97"):
        seed(bad_rate)
    with pytest.raises(ValidationFailed, match="more decimals than EUR"):
        seed(report("R-Y", entries=[{"date": "2026-11-18", "type": "TAXIX", "amount": "1.001"}]))
    _first, created = sandbox_expense_report_seed(platform_code="concur", report=report("R-1"))
    _again, created_again = sandbox_expense_report_seed(platform_code="concur", report=report("R-1", title="other"))
    assert (created, created_again) == (True, False)
    assert SandboxExpenseReport.objects.get(report_id="R-1").name == "Berlin customer visit"


def test_api_key_or_oauth_token_required(api):
    assert Client().get(f"{BASE}/reports").status_code == 401
    assert Client().get(f"{BASE}/reports", HTTP_X_API_KEY="wrong").status_code == 401
    token = Client().post(f"{BASE}/oauth/token", {"grant_type": "client_credentials", "client_id": "finops-hub",
                                                  "client_secret": "erp-Cl1ent-S3cret-never-logged"})
    bearer = f"Bearer {token.json()['access_token']}"
    assert Client().get(f"{BASE}/reports", HTTP_AUTHORIZATION=bearer).status_code == 200


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.django_db(transaction=True)
def test_approval_pushed_to_the_webhook_signed():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.received = []
    try:
        platform, _ = sandbox_expense_platform_ensure(code="concur", name="Concur",
                                                      webhook_url=f"http://127.0.0.1:{server.server_port}/hook")
        secret = webhook_secret(platform)
        assert len(secret) == 64
        seed(report("R-PEND", status="pending"))
        assert _Receiver.received == []  # pending reports are not pushed
        sandbox_expense_report_approve(platform_code="concur", report_id="R-PEND", approver="m.weber")
    finally:
        server.shutdown()
        server.server_close()
    [(headers, body)] = _Receiver.received
    timestamp = headers["X-Sandbox-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Sandbox-Signature"] == f"sha256={expected}"
    event = json.loads(body)
    assert (event["EventType"], event["ReportID"], event["OrgUnit1"], event["Total"]) == (
        "expense.report.approved", "R-PEND", "DE01", "180.47")
