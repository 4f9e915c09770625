"""`make demo`'s data steps, as the Makefile runs them: the sandbox bank and partners, then demo_load, whose first
sync reaches the sandbox ERPs and expense platform in-process (the server is not up yet)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.expenses.models import ExpenseReport, ReportStatus
from apps.payments.models import PaymentBatch

CREDENTIALS = {"FINOPS_DEMO_ERP_CLOUD": '{"client_id": "finops-hub", "client_secret": "demo-erp-cloud-secret-2026"}',
               "FINOPS_DEMO_CONCUR": '{"client_id": "finops-hub", "client_secret": "demo-concur-secret-2026"}'}



@pytest.mark.django_db(transaction=True)
def test_demo_load_syncs_with_the_sandbox_partners(no_connector_wait, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    monkeypatch.setenv("FINOPS_SANDBOX_ROOT", str(tmp_path / "sandbox"))
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    call_command("sandbox_setup", "--bank", "DEUT:DEUTDEFFXXX:DE89370400440532013000,DE65100700000123456789",
                 "--balance", "2500000")
    call_command("sandbox_partners_setup")
    call_command("demo_load")
    reports = {r.external_id: r for r in ExpenseReport.objects.all()}
    assert reports["R-DE-1001"].status == ReportStatus.POSTED and reports["R-DE-1001"].erp_document_number
    assert reports["R-US-2001"].status == ReportStatus.SUBMITTED  # the legacy ERP answers on sandbox_tick
    assert reports["R-DE-1003"].status == reports["R-DE-1004"].status == ReportStatus.BLOCKED
    assert set(PaymentBatch.objects.filter(source="erp_pull").values_list("entity__code", flat=True)) == {"DE01",
                                                                                                          "US01"}
    call_command("demo_load")  # idempotent: nothing twice
    assert ExpenseReport.objects.count() == len(reports)
    assert PaymentBatch.objects.count() == 3
