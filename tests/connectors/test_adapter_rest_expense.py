"""``rest_expense`` against the Concur-like sandbox platform: approved reports across pages become
finops.expense_report.v1 documents (the platform's record kept as the original), deduplicated until marked;
export marks are idempotent."""

from __future__ import annotations

import json

import pytest

from apps.connectors.services import get_expense_source
from apps.core.errors import ValidationFailed
from apps.core.models import Event, RawDocument
from apps.core.services import document_open
from apps.sandbox.expense_services import sandbox_expense_report_seed
from apps.sandbox.models import SandboxExpenseReport
from tests.sandbox.partner_builders import BASE, CLIENT_ID, CLIENT_SECRET, expense_platform, read_json, report

ENDPOINT = f"{BASE}/expense/concur/"


@pytest.fixture
def conn(db, clock, sandbox_http, partner_connection):
    expense_platform()
    return partner_connection("concur-api", kind="expense", partner="concur", adapter="rest_expense",
                              endpoint=ENDPOINT, credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                              options={"token_url": f"{ENDPOINT}oauth/token", "page_size": 2})


def seed(*reports: dict) -> None:
    for item in reports:
        sandbox_expense_report_seed(platform_code="concur", report=item)



def test_approved_report_as_canonical_document(conn):
    seed(report("R-1001"), report("R-PEND", status="pending"))
    source = get_expense_source(conn)
    [doc] = source.pull_approved_reports()
    assert read_json(doc) == {
        "schema": "finops.expense_report.v1", "platform": "concur", "report_id": "R-1001", "entity": "DE01",
        "employee_id": "E-0042", "employee_name": "Jana Kowalski", "title": "Berlin customer visit",
        "currency": "EUR", "total": "180.47", "submitted_at": "2026-11-20T08:00:00Z",
        "approved_at": "2026-11-21T10:00:00Z", "approved_by": "m.weber",
        "lines": [
            {"line_id": "1", "date": "2026-11-18", "category": "travel", "amount": "115.97", "currency": "EUR",
             "original_amount": "125.82", "original_currency": "USD", "fx_rate": "0.9217", "tax_code": "V19",
             "tax_amount": "18.52", "cost_centre": "CC100", "project": "P-7", "merchant": "Deutsche Bahn",
             "receipt_ref": "RCPT-88", "description": "Train Berlin"},
            {"line_id": "2", "date": "2026-11-19", "category": "meals", "amount": "64.50", "currency": "EUR",
             "tax_code": "V19", "tax_amount": "10.30", "cost_centre": "CC100", "project": "", "merchant":
             "Lutter & Wegner", "receipt_ref": "", "description": ""}]}
    original = RawDocument.objects.get(filename="concur-report-R-1001.json")
    with document_open(original) as fh:
        assert json.loads(fh.read())["Entries"][0]["ExpenseTypeCode"] == "TRAIN"  # the platform's own record
    assert source.last_run.counts == {"originals": 1, "received": 1}
    assert Event.objects.get(type="connection.documents_received").payload["documents"] == [doc.pk]


def test_every_page_is_read_and_a_second_pull_is_a_duplicate(conn, sandbox_http):
    seed(*[report(f"R-{n}") for n in range(1, 6)])
    source = get_expense_source(conn)
    docs = source.pull_approved_reports()
    assert [read_json(d)["report_id"] for d in docs] == ["R-1", "R-2", "R-3", "R-4", "R-5"]
    assert sandbox_http.requests.count(("GET", "/sandbox/expense/concur/reports")) == 3  # pages of 2
    assert source.pull_approved_reports() == []
    assert source.last_run.counts == {"duplicates": 10}  # 5 originals, 5 canonical documents


def test_mark_exported_then_paid_idempotently(conn):
    seed(report("R-1"), report("R-2"))
    source = get_expense_source(conn)
    assert source.mark_exported(["R-1", "R-404"]) == {"state": "exported", "changed": ["R-1"], "unchanged": [],
                                                      "not_found": ["R-404"]}
    assert [read_json(d)["report_id"] for d in source.pull_approved_reports()] == ["R-2"]
    assert source.mark_exported(["R-1"])["unchanged"] == ["R-1"]
    assert source.mark_exported(["R-1", "R-2"], state="paid")["changed"] == ["R-1", "R-2"]
    row = SandboxExpenseReport.objects.get(report_id="R-1")
    assert (row.export_state, row.export_reference) == ("paid", "finops:concur-api")
    with pytest.raises(ValidationFailed, match="state: 'deleted' is not exported or paid"):
        source.mark_exported(["R-1"], state="deleted")


def test_check(conn):
    assert get_expense_source(conn).check() == {"platform": "concur"}
