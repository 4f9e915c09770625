"""Expenses end to end on the sandboxes, over real HTTP and files: approved reports for both entities are pulled
from the Concur-like platform -> DE01's post to the cloud ERP (REST), US01's to the legacy ERP (CSV files) -> a
report on an inactive cost centre opens a case -> the cost centre is fixed in the sandbox ERP, master data synced,
retry posts it -> a report dated in a closed period is reposted into the next open one after approval -> employees
are reimbursed through a pain.001 sent to the sandbox bank -> the bank's pain.002 comes back -> statuses return to
the expense platform (paid) and to the ERP."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.connectors.models import Connection
from apps.connectors.services import connection_operation_run, connection_upsert
from apps.core.config import config_load
from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_retry
from apps.expenses import services
from apps.expenses.models import ExpenseReport, JournalStatus, ReportStatus
from apps.payments.models import BatchStatus, PaymentBatch
from apps.payments.services import payment_batch_approve
from apps.sandbox.demo import sandbox_partners_demo_ensure
from apps.sandbox.erp_files import sandbox_erp_tick
from apps.sandbox.erp_services import sandbox_cost_centre_set_active
from apps.sandbox.models import SandboxExpenseReport, SandboxJournal, SandboxPaymentStatusUpdate
from apps.sandbox.services import bank_dirs, sandbox_bank_ensure, sandbox_tick

OPERATING = "DE89370400440532013000"
SECRET = {"client_id": "finops-hub", "client_secret": "e2e-Secret-0123456789"}



def run(code: str, operation: str):
    result = connection_operation_run(connection_id=Connection.objects.get(code=code).pk, operation=operation)
    assert result.status == "succeeded", (code, operation, result.error)
    return result


def report(external_id: str) -> ExpenseReport:
    return ExpenseReport.objects.get(external_id=external_id)


@pytest.mark.django_db(transaction=True)
def test_expense_reports_from_platform_to_both_erps_and_reimbursed(no_connector_wait, live_server, make_user,
        settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    today = timezone.localdate()
    # the outside world: the bank, both ERPs and the expense platform
    bank, _ = sandbox_bank_ensure(code="DEUT", name="Sandbox Deutsche Bank", bic="DEUTDEFFXXX",
                                  accounts=[{"iban": OPERATING, "currency": "EUR", "balance": "100000"}])
    for path in bank_dirs(bank).values():
        path.mkdir(parents=True, exist_ok=True)
    legacy_root = tmp_path / "sandbox" / "erp-legacy"
    sandbox_partners_demo_ensure(today=today, file_root=str(legacy_root),
                                 credentials={"erp-cloud": SECRET, "concur": SECRET})
    # the hub, configured as an admin would
    config_load({
        "entities": [{"code": "DE01", "name": "Acme GmbH", "country": "DE", "base_currency": "EUR"},
                     {"code": "US01", "name": "Acme Inc.", "country": "US", "base_currency": "USD"}],
        "bank_partners": [{"code": "DEUT", "name": "Deutsche Bank", "bic": "DEUTDEFFXXX",
                           "payment_format": "pain.001.001.09"},
                          {"code": "CHAS", "name": "JPMorgan Chase", "bic": "CHASUS33XXX", "payment_format": "nacha"}],
        "bank_accounts": [{"entity": "DE01", "bank": "DEUT", "iban": OPERATING, "currency": "EUR", "name": "Operating"},
                          {"entity": "US01", "bank": "CHAS", "account_number": "000123456789",
                           "routing_code": "021000021", "currency": "USD", "name": "Operating USD"}],
        "expense_policies": [{"entity": "DE01", "reimbursement_account": OPERATING}],
    })
    base = f"{live_server.url}/sandbox"
    connection_upsert(code="erp-cloud-api", name="Cloud ERP", partner_kind="erp", partner_ref="erp-cloud",
                      transport="rest", endpoint=f"{base}/erps/erp-cloud/", credentials=SECRET,
                      options={"adapter": "rest_erp", "token_url": f"{base}/erps/erp-cloud/oauth/token",
                               "entities": ["DE01"]})
    connection_upsert(code="erp-legacy-files", name="Legacy ERP", partner_kind="erp", partner_ref="erp-legacy",
                      transport="directory", endpoint=str(legacy_root), options={"adapter": "csv_erp",
                                                                                 "entities": ["US01"]})
    connection_upsert(code="concur-api", name="Concur", partner_kind="expense", partner_ref="concur",
                      transport="rest", endpoint=f"{base}/expense/concur/", credentials=SECRET,
                      options={"adapter": "rest_expense", "token_url": f"{base}/expense/concur/oauth/token"})
    connection_upsert(code="deut-files", name="DEUT file drop", partner_kind="bank", partner_ref="DEUT",
                      transport="directory", endpoint=str(tmp_path / "sandbox" / "DEUT"),
                      options={"outbox_dir": "inbox", "status_dir": "outbox/status-reports",
                               "inbox_dir": "outbox/statements", "archive_dir": "archive"})
    config_load({"entities": [{"code": "DE01", "name": "Acme GmbH", "country": "DE", "base_currency": "EUR",
                               "erp_connection": "erp-cloud-api"},
                              {"code": "US01", "name": "Acme Inc.", "country": "US", "base_currency": "USD",
                               "erp_connection": "erp-legacy-files"}]})

    run("erp-cloud-api", "pull_master_data")
    run("erp-legacy-files", "pull_master_data")
    run("concur-api", "pull_approved_reports")

    # one posts to the cloud ERP, one to the legacy ERP
    de, us = report("R-DE-1001"), report("R-US-2001")
    assert de.status == ReportStatus.POSTED and de.erp_document_number
    assert de.journals.get().erp_connection == "erp-cloud-api"
    assert SandboxJournal.objects.filter(external_reference=de.journals.get().reference).exists()
    assert us.status == ReportStatus.SUBMITTED and us.journals.get().erp_connection == "erp-legacy-files"
    sandbox_erp_tick(erp_code="erp-legacy")  # the legacy ERP reads its inbox and writes acknowledgements
    services.expense_postings_resume()
    us.refresh_from_db()
    assert us.status == ReportStatus.POSTED and us.erp_document_number
    assert SandboxExpenseReport.objects.get(report_id="R-DE-1001").export_state == "exported"
    assert not ExpenseReport.objects.filter(external_id="R-DE-1005").exists()  # not approved: not pulled

    # inactive cost centre -> case -> fixed in the ERP -> sync -> retry posts it
    blocked = report("R-DE-1003")
    assert blocked.status == ReportStatus.BLOCKED and blocked.problems[0]["code"] in ("inactive_cost_centre",
                                                                                      "cost_centre_not_valid")
    case = ExceptionCase.objects.get(kind="expense.posting_blocked", subject_id=str(blocked.pk))
    assert "CC-OLD" in case.message
    sandbox_cost_centre_set_active(erp_code="erp-cloud", entity_code="DE01", code="CC-OLD", active=True,
                                   valid_to=None)
    run("erp-cloud-api", "pull_master_data")
    clerk = make_user("ap_clerk", entities=[], all_entities=True, username="clara")
    case = case_retry(case_id=case.pk, actor=clerk)
    blocked.refresh_from_db()
    assert case.status == "resolved" and blocked.status == ReportStatus.POSTED

    # closed period -> repost into the next open one after a second person's approval
    late = report("R-DE-1004")
    assert late.status == ReportStatus.BLOCKED and late.problems[0]["code"] == "period_closed"
    approver = make_user("approver", all_entities=True, username="anna")
    services.expense_report_repost_request(report_id=late.pk, actor=clerk, reason="receipt handed in late")
    late = services.expense_report_repost_approve(report_id=late.pk, actor=approver)
    assert late.status == ReportStatus.POSTED and late.period == f"{today:%Y-%m}"
    assert late.journals.filter(status=JournalStatus.POSTED).get().period == f"{today:%Y-%m}"

    # reimbursement through a pain.001 to the sandbox bank, statuses back to the platform and the ERP
    services.expense_reimbursements_create(day=today)
    batch = PaymentBatch.objects.get(source="reimbursement", entity__code="DE01")
    reimbursed = {r.external_id for r in ExpenseReport.objects.filter(reimbursement__batch=batch)}
    assert {"R-DE-1001", "R-DE-1003", "R-DE-1004"} <= reimbursed
    payment_batch_approve(batch_id=batch.pk, actor=approver)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.TRANSMITTED
    assert batch.files.get().format == "pain.001.001.09"
    sandbox_tick(bank_code="DEUT")
    run("deut-files", "fetch_status_reports")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.ACCEPTED
    for external_id in reimbursed:
        assert report(external_id).status == ReportStatus.REIMBURSED
        assert SandboxExpenseReport.objects.get(report_id=external_id).export_state == "paid"
    assert SandboxPaymentStatusUpdate.objects.filter(erp__code="erp-cloud", batch_reference=batch.erp_reference,
                                                     status="accepted").exists()
