"""The legacy sandbox ERP's files: payment runs and master data snapshots it writes, journals and payment status
updates it takes in when advanced (sandbox_tick), one ack per journal, faults on its file exchange."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.sandbox.erp_files import sandbox_erp_tick
from apps.sandbox.erp_services import sandbox_cost_centre_set_active, sandbox_erp_faults_set
from apps.sandbox.models import SandboxErpPaymentBatch, SandboxJournal, SandboxPaymentStatusUpdate
from tests.sandbox.partner_builders import batch, legacy_erp, queue

JOURNAL_HEADER = ("journal_id;company;posting_date;period;currency;description;source_kind;source_platform;"
                  "source_ref;line;account;cost_centre;debit;credit;tax_code;tax_amount;text\n")


@pytest.fixture
def erp(db, sandbox_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        legacy_erp()
    return sandbox_root / "erp-legacy"


def rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text()), delimiter=";"))


def journal_file(erp, journal_id: str, cost_centre: str = "100-SALES", debit: str = "48.75",
                 credit: str = "48.75", period: str = "2026-11") -> None:
    (erp / "import" / "journals" / f"{journal_id}.csv").write_text(
        JOURNAL_HEADER
        + f"{journal_id};US01;2026-11-24;{period};USD;Taxi;expense_report;concur;R-US-1;1;6100;{cost_centre};"
          f"{debit};0.00;ST-NY;3.97;Taxi\n"
        + f"{journal_id};US01;2026-11-24;{period};USD;Taxi;expense_report;concur;R-US-1;2;2150;;0.00;{credit};;0;"
          "Payable\n")


def test_layout_and_master_data_snapshots(erp, django_capture_on_commit_callbacks):
    assert sorted(p.name for p in (erp / "export" / "masterdata" / "US01").iterdir()) == [
        "category_accounts.csv", "company.csv", "cost_centres.csv", "employees.csv", "fx_rates.csv",
        "gl_accounts.csv", "periods.csv", "tax_codes.csv"]
    folder = erp / "export" / "masterdata" / "US01"
    [company] = rows(folder / "company.csv")
    assert (company["code"], company["currency"], company["employee_payable"], company["rounding"]) == (
        "US01", "USD", "2150", "7990")
    assert {r["code"]: r["rate"] for r in rows(folder / "tax_codes.csv")} == {
        "EXEMPT": "0.00", "ST-CA": "7.25", "ST-NY": "8.875"}
    employees = {r["id"]: r for r in rows(folder / "employees.csv")}
    assert (employees["E-0107"]["account_number"], employees["E-0107"]["routing"]) == ("1122334455", "021000021")
    assert employees["E-0110"]["active"] == "N"
    with django_capture_on_commit_callbacks(execute=True):
        sandbox_cost_centre_set_active(erp_code="erp-legacy", entity_code="US01", code="200-OPS", active=False)
    assert {r["code"]: r["active"] for r in rows(folder / "cost_centres.csv")}["200-OPS"] == "N"
    [again] = rows(folder / "company.csv")
    assert again["as_of"] >= company["as_of"]
    assert not list(folder.glob("*.part"))


def test_a_payment_run_is_one_csv_file_with_a_row_per_instruction(erp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        queue("erp-legacy", batch("PR-1", entity="US01", amounts=("3120.45", "99.00")),
              batch("PR-2", entity="US01", amounts=("12.00",)))
    [run] = list((erp / "export" / "payments").iterdir())
    lines = rows(run)
    assert [(r["run_id"], r["item"], r["amount"], r["payee_account_number"], r["payee_routing"]) for r in lines] == [
        ("PR-1", "1", "3120.45", "4455667788", "026009593"), ("PR-1", "2", "99.00", "4455667788", "026009593"),
        ("PR-2", "1", "12.00", "4455667788", "026009593")]
    assert {b.status for b in SandboxErpPaymentBatch.objects.all()} == {"exported"}
    assert SandboxErpPaymentBatch.objects.filter(run_file=run.name).count() == 2
    run.unlink()  # the hub took it (archived it)
    [result] = sandbox_erp_tick(erp_code="erp-legacy")
    assert result.picked_up == 2 and not result.payment_runs
    assert {b.status for b in SandboxErpPaymentBatch.objects.all()} == {"picked_up"}


def test_tick_takes_journals_in_and_writes_an_ack_each(erp):
    journal_file(erp, "JRN-1")
    journal_file(erp, "JRN-2", cost_centre="CC-OLD")
    journal_file(erp, "JRN-3", credit="48.70")
    journal_file(erp, "JRN-4", period="2026-10")
    (erp / "import" / "journals" / "JRN-5.csv.part").write_text("half written")
    [result] = sandbox_erp_tick(erp_code="erp-legacy")
    assert (result.journals_posted, result.journals_rejected) == (1, 3)
    acks = {p.stem: rows(p)[0] for p in (erp / "export" / "acks").iterdir()}
    assert sorted(acks) == ["JRN-1", "JRN-2", "JRN-3", "JRN-4"]
    assert (acks["JRN-1"]["status"], acks["JRN-1"]["document_number"]) == ("posted", "GL-2026-000001")
    assert {k: acks["JRN-2"][k] for k in ("status", "error_code", "field", "period")} == {
        "status": "rejected", "error_code": "inactive_cost_centre", "field": "lines[0].cost_centre",
        "period": "2026-11"}
    assert acks["JRN-3"]["error_code"] == "unbalanced"
    assert (acks["JRN-4"]["error_code"], acks["JRN-4"]["period"]) == ("period_closed", "2026-10")
    assert sorted(p.name for p in (erp / "import" / "journals").iterdir()) == ["JRN-5.csv.part", "processed"]
    # the same journal again (e.g. the hub resent it): posted once, the same document number
    journal_file(erp, "JRN-1")
    sandbox_erp_tick(erp_code="erp-legacy")
    assert rows(erp / "export" / "acks" / "JRN-1.csv")[0]["document_number"] == "GL-2026-000001"
    assert SandboxJournal.objects.filter(status="posted").count() == 1
    assert len(list((erp / "import" / "journals" / "processed").iterdir())) == 5


def test_unreadable_journal_file_is_acknowledged_as_invalid(erp):
    (erp / "import" / "journals" / "JRN-9.csv").write_text(
        JOURNAL_HEADER + "JRN-9;US01;2026-11-24;2026-11;USD;x;;;;1;6100;100-SALES;12,50;0;;0;x\n")
    sandbox_erp_tick(erp_code="erp-legacy")
    [ack] = rows(erp / "export" / "acks" / "JRN-9.csv")
    assert (ack["status"], ack["error_code"]) == ("rejected", "invalid")
    assert ack["message"] == "JRN-9.csv: line 2, column debit: '12,50' is not a decimal number with a point."


def test_payment_status_files_deduplicated_by_event_id(erp):
    header = ("event_id;company;payment_run;hub_batch_id;run_status;occurred_at;end_to_end_id;document_ref;status;"
              "reason_code;reason;amount;currency\n")
    line = "EV-1;US01;PR-1;7;accepted;2026-11-25T09:12:00Z;PR-1-1;DOC-1;accepted;;;3120.45;USD\n"
    folder = erp / "import" / "payment_status"
    (folder / "EV-1.csv").write_text(header + line)
    (folder / "EV-1-again.csv").write_text(header + line)
    (folder / "broken.csv").write_text("nothing;here\n")
    [result] = sandbox_erp_tick(erp_code="erp-legacy")
    assert (result.status_updates, result.status_duplicates, result.status_refused) == (1, 1, 1)
    update = SandboxPaymentStatusUpdate.objects.get()
    assert (update.event_id, update.status, update.channel) == ("EV-1", "accepted", "file")
    assert update.payload["items"][0]["end_to_end_id"] == "PR-1-1"
    assert (folder / "rejected" / "broken.csv.reason.txt").read_text().startswith("line 1: missing column(s)")


def test_outage_stops_the_file_exchange(erp, django_capture_on_commit_callbacks):
    sandbox_erp_faults_set(erp_code="erp-legacy", outage_start=timezone.now() - dt.timedelta(minutes=1))
    journal_file(erp, "JRN-1")
    with django_capture_on_commit_callbacks(execute=True):
        queue("erp-legacy", batch("PR-1", entity="US01"))
    [result] = sandbox_erp_tick(erp_code="erp-legacy")
    assert result.skipped == "outage"
    assert (erp / "import" / "journals" / "JRN-1.csv").exists() and not list((erp / "export" / "payments").iterdir())
    sandbox_erp_faults_set(erp_code="erp-legacy", clear=True)
    [result] = sandbox_erp_tick(erp_code="erp-legacy")
    assert result.journals_posted == 1 and len(result.payment_runs) == 1


def test_malformed_fault_truncates_the_exported_files(erp, django_capture_on_commit_callbacks):
    sandbox_erp_faults_set(erp_code="erp-legacy", malformed_documents=True)
    with django_capture_on_commit_callbacks(execute=True):
        queue("erp-legacy", batch("PR-1", entity="US01", amounts=("1.00", "2.00", "3.00")))
    [run] = list((erp / "export" / "payments").iterdir())
    text = run.read_text()
    assert text.startswith("run_id;company;") and not text.endswith("\n")  # cut in the middle of a row


def test_sandbox_tick_command_advances_a_legacy_erp(erp):
    journal_file(erp, "JRN-1")
    out = io.StringIO()
    call_command("sandbox_tick", "--erp", "erp-legacy", stdout=out)
    line = json.loads(out.getvalue().splitlines()[-1])
    assert (line["erp"], line["journals_posted"], line["skipped"]) == ("erp-legacy", 1, "")
