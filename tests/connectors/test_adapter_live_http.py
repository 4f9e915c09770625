"""Adapters over real HTTP (live server, OAuth2 tokens from the sandbox): a journal whose answer timed out is not
posted twice on the retry; the expense platform's reports and the ERP's batches arrive the same way."""

from __future__ import annotations

import time

import pytest

from apps.connectors.services import connection_upsert, get_erp_adapter, get_expense_source
from apps.sandbox import erp_views
from apps.sandbox.expense_services import sandbox_expense_report_seed
from apps.sandbox.models import SandboxJournal
from tests.sandbox.partner_builders import (
    CLIENT_ID,
    CLIENT_SECRET,
    batch,
    cloud_erp,
    expense_platform,
    journal,
    outbound_document,
    queue,
)


@pytest.fixture
def live(live_server, clock):
    """The sandbox over real HTTP; the hub's waits between attempts are recorded (``clock``), not slept."""
    live_server.waits = clock
    return live_server


def connection(code: str, kind: str, partner: str, adapter: str, endpoint: str, **kw):
    return connection_upsert(code=code, name=code, partner_kind=kind, partner_ref=partner, transport="rest",
                             endpoint=endpoint, options={"adapter": adapter, "token_url": f"{endpoint}oauth/token"},
                             credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, **kw).obj


@pytest.mark.django_db(transaction=True)
def test_post_journal_retried_after_a_timeout_posts_once(live, monkeypatch):
    cloud_erp()
    endpoint = f"{live.url}/sandbox/erps/erp-cloud/"
    conn = connection("erp-cloud-api", "erp", "erp-cloud", "rest_erp", endpoint, timeout_seconds=1, max_attempts=3)
    receive = erp_views.services.sandbox_journal_receive

    def slow_answer(**kwargs):  # the ERP posts and commits, then answers after the client stopped waiting
        outcome = receive(**kwargs)
        time.sleep(2)
        return outcome

    monkeypatch.setattr(erp_views.services, "sandbox_journal_receive", slow_answer)
    doc = outbound_document(journal("JRN-T1"), "JRN-T1.json")
    erp = get_erp_adapter(conn)
    answer = erp.post_journal(doc)
    assert answer == {"status": "posted", "document_number": "JE-2026-000001", "already_posted": True}
    run = erp.last_run
    assert (run.status, run.attempts) == ("succeeded", 2) and len(live.waits.sleeps) == 1
    journal_row = SandboxJournal.objects.get()
    assert (journal_row.attempts, journal_row.document_number) == (1, "JE-2026-000001")


@pytest.mark.django_db(transaction=True)
def test_reports_and_batches_over_real_http(live):
    expense_platform()
    sandbox_expense_report_seed(platform_code="concur", report={
        "report_id": "R-9", "title": "Taxi", "employee_id": "E-0042", "employee_name": "Jana Kowalski",
        "entity": "DE01", "currency": "EUR",
        "entries": [{"date": "2026-11-18", "type": "TAXIX", "amount": "23.80", "tax_code": "V7",
                     "tax_amount": "1.56", "cost_centre": "CC100"}]})
    source = get_expense_source(connection("concur-api", "expense", "concur", "rest_expense",
                                           f"{live.url}/sandbox/expense/concur/"))
    [doc] = source.pull_approved_reports()
    assert doc.filename == "expense-report-concur-R-9.json"
    assert source.mark_exported(["R-9"])["changed"] == ["R-9"]
    cloud_erp()
    queue("erp-cloud", batch("RUN-LIVE"))
    erp = get_erp_adapter(connection("erp-cloud-api", "erp", "erp-cloud", "rest_erp",
                                     f"{live.url}/sandbox/erps/erp-cloud/"))
    [batch_doc] = erp.pull_payment_batches()
    assert batch_doc.filename == "payment-batch-RUN-LIVE.json"
    assert erp.pull_payment_batches() == []
