"""Fault injection on the sandbox ERP and expense APIs (the bank's, generalised): 500s, 429 with Retry-After,
timeouts, outage windows, malformed payloads; and the demo partners' set-up command."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.sandbox import faults
from apps.sandbox.erp_services import sandbox_erp_faults_set
from apps.sandbox.expense_services import sandbox_expense_faults_set
from apps.sandbox.models import (
    SandboxCostCentre,
    SandboxErp,
    SandboxErpPaymentBatch,
    SandboxExpenseReport,
    SandboxJournal,
)
from tests.sandbox.partner_builders import API_KEY, cloud_erp, erp_journal_body, expense_platform, journal, report

ERP = "/sandbox/erps/erp-cloud"
KEY = {"HTTP_X_API_KEY": API_KEY}


@pytest.fixture
def erp(db):
    return cloud_erp()


@pytest.fixture
def slept(monkeypatch):
    calls: list[float] = []
    monkeypatch.setattr(faults.clock, "sleep", calls.append)
    return calls


def post_journal(doc: dict):
    return Client().post(f"{ERP}/journals", data=json.dumps(erp_journal_body(doc)), content_type="application/json",
                         **KEY)


def test_error_rate_gives_500_and_changes_nothing(erp):
    sandbox_erp_faults_set(erp_code="erp-cloud", error_rate=100)
    assert Client().get(f"{ERP}/periods", **KEY).status_code == 500
    assert post_journal(journal()).status_code == 500
    assert not SandboxJournal.objects.exists()


def test_error_rate_is_a_rate(erp, monkeypatch):
    sandbox_erp_faults_set(erp_code="erp-cloud", error_rate=50)
    rolls = iter([10.0, 60.0])
    monkeypatch.setattr(faults, "chance", lambda: next(rolls))
    assert [Client().get(f"{ERP}/periods", **KEY).status_code for _ in range(2)] == [500, 200]


def test_throttling_answers_429_with_retry_after(erp):
    sandbox_erp_faults_set(erp_code="erp-cloud", throttle_rate=100, retry_after_seconds=7)
    answer = Client().get(f"{ERP}/gl-accounts", **KEY)
    assert answer.status_code == 429 and answer["Retry-After"] == "7"


def test_outage_answers_503_before_authentication_and_covers_the_token_endpoint(erp):
    now = timezone.now()
    sandbox_erp_faults_set(erp_code="erp-cloud", outage_start=now - dt.timedelta(minutes=1),
                           outage_end=now + dt.timedelta(minutes=5))
    answer = Client().get(f"{ERP}/periods")  # no credentials at all: the outage answers first
    assert answer.status_code == 503 and 290 <= int(answer["Retry-After"]) <= 300
    assert "Sandbox ERP erp-cloud is down" in answer.json()["message"]
    assert Client().post(f"{ERP}/oauth/token", {"grant_type": "client_credentials"}).status_code == 503
    # the faults endpoint is never faulted, but needs the credentials
    assert Client().post(f"{ERP}/faults", data={"clear": True}, content_type="application/json").status_code == 401
    cleared = Client().post(f"{ERP}/faults", data={"clear": True}, content_type="application/json", **KEY)
    assert cleared.status_code == 200 and cleared.json()["outage_start"] is None
    assert Client().get(f"{ERP}/periods", **KEY).status_code == 200


def test_latency_and_timeout_sleep_then_answer(erp, slept):
    sandbox_erp_faults_set(erp_code="erp-cloud", latency_ms=300, timeout_seconds=40)
    answer = post_journal(journal())
    assert slept == [40, 0.3]
    assert answer.status_code == 201  # carried out after the sleep, like an ERP whose answer came too late
    assert SandboxJournal.objects.get().status == "posted"


def test_malformed_payloads_are_cut_in_half(erp):
    whole = Client().get(f"{ERP}/tax-codes", **KEY).content
    sandbox_erp_faults_set(erp_code="erp-cloud", malformed_documents=True)
    cut = Client().get(f"{ERP}/tax-codes", **KEY).content
    assert whole.startswith(cut) and len(cut) == len(whole) // 2
    with pytest.raises(ValueError):
        json.loads(cut)
    assert post_journal(journal()).json()["document_number"]  # answers to POSTs stay whole


def test_expense_platform_faults(db):
    expense_platform()
    from apps.sandbox.expense_services import sandbox_expense_report_seed

    sandbox_expense_report_seed(platform_code="concur", report=report("R-1"))
    sandbox_expense_faults_set(platform_code="concur", throttle_rate=100, retry_after_seconds=3)
    answer = Client().get("/sandbox/expense/concur/reports", **KEY)
    assert answer.status_code == 429 and answer["Retry-After"] == "3"
    sandbox_expense_faults_set(platform_code="concur", clear=True, error_rate=100)
    assert Client().post("/sandbox/expense/concur/reports/R-1/export", data={"state": "exported"},
                         content_type="application/json", **KEY).status_code == 500
    assert SandboxExpenseReport.objects.get().export_state == ""
    response = Client().post("/sandbox/expense/concur/faults", data={"error_rate": 101},
                             content_type="application/json", **KEY)
    assert response.status_code == 400 and response.json()["extra"] == {"field": "error_rate"}


def test_partners_setup_command_is_idempotent(db, sandbox_root, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("FINOPS_DEMO_ERP_CLOUD", json.dumps({"client_id": "hub", "client_secret": "Demo-S3cret-1"}))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the legacy ERP's files follow its committed data
        call_command("sandbox_partners_setup", "--today", "2026-11-24", stdout=out)
    call_command("sandbox_partners_setup", "--today", "2026-11-24", stdout=out)
    assert "Demo-S3cret-1" not in out.getvalue()  # secrets are printed only with --show-secrets
    assert "0 report(s) created; 0 payment batch(es) queued" in out.getvalue().splitlines()[-1]
    assert set(SandboxErp.objects.values_list("code", "flavour")) == {("erp-cloud", "cloud"), ("erp-legacy", "legacy")}
    assert SandboxErpPaymentBatch.objects.count() == 2
    assert not SandboxCostCentre.objects.get(entity__code="DE01", code="CC-OLD").active
    reports = {r.report_id: r for r in SandboxExpenseReport.objects.prefetch_related("entries")}
    assert len(reports) == 9 and reports["R-DE-1005"].approval_status == "A_PEND"
    assert reports["R-DE-1003"].entries.get().cost_center == "CC-OLD"
    assert reports["R-DE-1004"].entries.get().transaction_date == dt.date(2026, 10, 15)  # the closed period
    assert reports["R-US-2003"].entries.get().cost_center == "CC-OLD"
    token = Client().post("/sandbox/erps/erp-cloud/oauth/token", {"grant_type": "client_credentials",
                                                                  "client_id": "hub", "client_secret": "Demo-S3cret-1"})
    assert token.status_code == 200
    assert (sandbox_root / "erp-legacy" / "import" / "journals").is_dir()
    assert len(list((sandbox_root / "erp-legacy" / "export" / "payments").iterdir())) == 1
