"""``csv_erp`` against the legacy sandbox ERP's files (directory transport; one run over a real SFTP server):
payment run CSV -> canonical batches, the raw CSV kept with the run and archived only after it is stored;
malformed files refused naming line and column with nothing archived; master data snapshots; journals submitted
as files and answered through acks; payment status files written once."""

from __future__ import annotations

import shutil

import pytest

from apps.connectors import channels
from apps.connectors.errors import PermanentError
from apps.connectors.models import SyncRun
from apps.connectors.services import get_erp_adapter
from apps.core.models import Event, RawDocument
from apps.sandbox.erp_files import sandbox_erp_tick
from apps.sandbox.erp_services import sandbox_erp_faults_set, sandbox_period_set_status
from apps.sandbox.models import SandboxErpPaymentBatch, SandboxJournal, SandboxPaymentStatusUpdate
from tests.connectors.conftest import SFTP_PASSWORD, SFTP_USER
from tests.sandbox.partner_builders import (
    batch,
    journal,
    legacy_erp,
    outbound_document,
    queue,
    read_json,
    us_lines,
)

HEADER = ("run_id;company;house_bank_account;payment_date;item;end_to_end_id;document_ref;amount;currency;payee_id;"
          "payee_name;payee_iban;payee_bic;payee_account_number;payee_routing;payee_street;payee_building_number;"
          "payee_postal_code;payee_town;payee_country;remittance;purpose\n")


@pytest.fixture
def erp_root(db, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.SANDBOX_ROOT = str(tmp_path / "sandbox")
    with django_capture_on_commit_callbacks(execute=True):
        legacy_erp()
    return tmp_path / "sandbox" / "erp-legacy"


@pytest.fixture
def conn(erp_root, clock, partner_connection):
    return partner_connection("erp-legacy-files", kind="erp", partner="erp-legacy", adapter="csv_erp",
                              transport="directory", endpoint=str(erp_root))


@pytest.fixture
def exported(django_capture_on_commit_callbacks):
    def run(*batches):
        with django_capture_on_commit_callbacks(execute=True):
            queue("erp-legacy", *batches)

    return run




def canonical(*args, **kwargs) -> dict:
    return {"schema": "finops.payment_batch.v1", **batch(*args, **kwargs)}


def test_payment_run_becomes_canonical_batches_and_is_archived_after_being_stored(conn, erp_root, exported):
    exported(batch("PR-1", entity="US01", amounts=("3120.45", "99.00")), batch("PR-2", entity="US01"))
    [run_file] = list((erp_root / "export" / "payments").iterdir())
    erp = get_erp_adapter(conn)
    docs = erp.pull_payment_batches()
    assert [read_json(d) for d in docs] == [canonical("PR-1", entity="US01", amounts=("3120.45", "99.00")),
                                          canonical("PR-2", entity="US01")]
    run = erp.last_run
    assert run.counts == {"originals": 1, "archived": 1, "received": 2}
    raw = RawDocument.objects.get(filename=run_file.name)
    assert (raw.media_type, raw.size) == ("text/csv", len((erp_root / "archive" / "payments" / run_file.name)
                                                          .read_bytes()))
    assert sorted(run.moved.values_list("document_id", "role", "remote_name", "archived_as")) == sorted([
        (raw.pk, "received", run_file.name, f"archive/payments/{run_file.name}"),
        (docs[0].pk, "received", "payment-batch-PR-1.json", ""), (docs[1].pk, "received", "payment-batch-PR-2.json", "")])
    event = Event.objects.get(type="connection.documents_received")
    assert event.payload["documents"] == [d.pk for d in docs]  # the canonical documents only, not the raw CSV
    assert not run_file.exists()
    sandbox_erp_tick(erp_code="erp-legacy")
    assert set(SandboxErpPaymentBatch.objects.values_list("status", flat=True)) == {"picked_up"}


def test_the_same_file_again_is_archived_only(conn, erp_root, exported):
    exported(batch("PR-1", entity="US01"))
    [run_file] = list((erp_root / "export" / "payments").iterdir())
    erp = get_erp_adapter(conn)
    assert len(erp.pull_payment_batches()) == 1
    shutil.copy(erp_root / "archive" / "payments" / run_file.name, run_file)
    assert erp.pull_payment_batches() == []
    assert erp.last_run.counts == {"duplicates": 1, "archived": 1}
    assert sorted(p.name for p in (erp_root / "archive" / "payments").iterdir())[0] == run_file.name
    assert len(list((erp_root / "archive" / "payments").iterdir())) == 2  # nothing overwritten


def test_malformed_csv_fails_naming_line_and_column_and_archives_nothing(conn, erp_root, exported):
    exported(batch("PR-1", entity="US01"))
    inbox = erp_root / "export" / "payments"
    (inbox / "PAYRUN_bad.csv").write_text(
        HEADER + "PR-9;US01;000123456789;2026-11-27;1;E1;D1;12.00;USD;V-2001;Lakeside;;;4455667788;026009593;;;;"
                 "Chicago;US;x;\n"
                 "PR-9;US01;000123456789;2026-11-27;2;E2;D2;1.234,50;USD;V-2001;Lakeside;;;4455667788;026009593;;;;"
                 "Chicago;US;x;\n")
    erp = get_erp_adapter(conn)
    with pytest.raises(PermanentError, match=r"PAYRUN_bad.csv: line 3, column amount: '1.234,50' is not a decimal"):
        erp.pull_payment_batches()
    assert len(list(inbox.iterdir())) == 2 and not (erp_root / "archive").exists()
    run = SyncRun.objects.get()
    assert run.status == "failed" and "line 3, column amount" in run.error
    assert list(run.moved.values_list("document__filename", flat=True)) == ["PAYRUN_bad.csv"]  # kept for the run page
    assert not Event.objects.filter(type="connection.documents_received").exists()
    (inbox / "PAYRUN_bad.csv").unlink()  # the ERP withdraws it
    assert len(erp.pull_payment_batches()) == 1


def test_truncated_export_is_refused(conn, erp_root, exported):
    sandbox_erp_faults_set(erp_code="erp-legacy", malformed_documents=True)
    exported(batch("PR-1", entity="US01", amounts=("1.00", "2.00", "3.00")))
    with pytest.raises(PermanentError, match=r"PAYRUN_\S+\.csv: line \d+, column \w+: \d+ field\(s\) where the header "
                                             r"has 22"):
        get_erp_adapter(conn).pull_payment_batches()


def test_a_crash_between_store_and_archive_neither_loses_nor_doubles(conn, erp_root, exported, monkeypatch):
    exported(batch("PR-1", entity="US01"))
    real_archive = channels._archive

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(channels, "_archive", crash)
    with pytest.raises(RuntimeError):
        get_erp_adapter(conn).pull_payment_batches()
    assert len(list((erp_root / "export" / "payments").iterdir())) == 1  # still there
    monkeypatch.setattr(channels, "_archive", real_archive)
    erp = get_erp_adapter(conn)
    [doc] = erp.pull_payment_batches()
    assert read_json(doc)["erp_reference"] == "PR-1" and erp.last_run.counts["received"] == 1
    assert erp.pull_payment_batches() == []


def test_master_data_snapshot_as_one_canonical_document(conn):
    erp = get_erp_adapter(conn)
    [doc] = erp.pull_master_data()
    data = read_json(doc)
    assert (data["schema"], data["entity"], data["accounts"]) == (
        "finops.master_data.v1", "US01", {"employee_payable": "2150", "rounding": "7990"})
    assert {t["code"]: t["rate"] for t in data["tax_codes"]} == {"EXEMPT": "0.00", "ST-CA": "7.25", "ST-NY": "8.875"}
    marcus = next(e for e in data["employees"] if e["id"] == "E-0107")
    assert (marcus["account_number"], marcus["routing"], marcus["iban"], marcus["active"]) == (
        "1122334455", "021000021", "", True)
    assert not next(e for e in data["employees"] if e["id"] == "E-0110")["active"]
    assert {c["code"]: c["active"] for c in data["cost_centres"]}["CC-OLD"] is False
    assert erp.last_run.counts == {"originals": 8, "received": 1}
    assert erp.pull_master_data() == [] and erp.last_run.counts == {"duplicates": 9}


def test_journal_submitted_as_a_file_then_answered_by_the_ack(conn, erp_root):
    doc = outbound_document(journal("JRN-1", entity="US01", lines=us_lines()), "JRN-1.json")
    erp = get_erp_adapter(conn)
    assert erp.post_journal(doc) == {"status": "submitted", "reference": "JRN-1.csv"}
    written = (erp_root / "import" / "journals" / "JRN-1.csv").read_text()
    assert written.splitlines()[1].startswith("JRN-1;US01;2026-11-24;2026-11;USD;")
    assert erp.post_journal(doc) == {"status": "submitted", "reference": "JRN-1.csv"}  # waiting: not written twice
    assert erp.last_run.counts == {"already_submitted": 1}
    assert erp.journal_status("JRN-1") == {"status": "submitted", "reference": "JRN-1.csv"}
    sandbox_erp_tick(erp_code="erp-legacy")
    posted = {"status": "posted", "document_number": "GL-2026-000001", "already_posted": True}
    assert erp.journal_status("JRN-1") == posted
    assert erp.post_journal(doc) == posted
    assert not (erp_root / "import" / "journals" / "JRN-1.csv").exists()
    assert erp.journal_status("JRN-2") == {"status": "unknown"}


def test_rejected_journal_is_submitted_again_after_the_fix(conn):
    sandbox_period_set_status(erp_code="erp-legacy", entity_code="US01", period="2026-11", status="closed")
    doc = outbound_document(journal("JRN-5", entity="US01", lines=us_lines()), "JRN-5.json")
    erp = get_erp_adapter(conn)
    erp.post_journal(doc)
    sandbox_erp_tick(erp_code="erp-legacy")
    assert erp.journal_status("JRN-5") == {"status": "rejected", "error": {
        "code": "period_closed", "message": "Posting period 2026-11 of US01 is closed; post into an open period.",
        "field": "period", "period": "2026-11"}}
    sandbox_period_set_status(erp_code="erp-legacy", entity_code="US01", period="2026-11", status="open")
    assert erp.post_journal(doc)["status"] == "submitted"
    assert erp.journal_status("JRN-5")["status"] == "submitted"  # the old ack does not answer for the new file
    sandbox_erp_tick(erp_code="erp-legacy")
    assert erp.journal_status("JRN-5")["status"] == "posted"
    assert SandboxJournal.objects.get().attempts == 2


def test_payment_status_written_once(conn, erp_root):
    status = {"schema": "finops.payment_status.v1", "event_id": "EV-77", "entity": "US01",
              "batch": {"id": 4, "erp_reference": "PR-1", "status": "accepted"},
              "instructions": [{"end_to_end_id": "PR-1-1", "erp_reference": "DOC-1", "status": "accepted",
                                "amount": "3120.45", "currency": "USD"}],
              "occurred_at": "2026-11-25T09:12:00Z"}
    doc = outbound_document(status, "status-EV-77.json")
    erp = get_erp_adapter(conn)
    assert erp.push_payment_status(doc) == {"status": "delivered", "duplicate": False}
    assert erp.push_payment_status(doc) == {"status": "delivered", "duplicate": True}
    sandbox_erp_tick(erp_code="erp-legacy")
    assert erp.push_payment_status(doc) == {"status": "delivered", "duplicate": True}  # found in processed/
    update = SandboxPaymentStatusUpdate.objects.get()
    assert (update.event_id, update.status, update.payload["items"][0]["document_ref"]) == ("EV-77", "accepted",
                                                                                           "DOC-1")


def test_payment_run_over_sftp(db, clock, settings, tmp_path, sftp_server, partner_connection,
                               django_capture_on_commit_callbacks):
    settings.SANDBOX_ROOT = str(tmp_path / "sandbox")
    with django_capture_on_commit_callbacks(execute=True):
        legacy_erp(file_root=str(sftp_server.root / "erp"))
        queue("erp-legacy", batch("PR-1", entity="US01"))
    conn = partner_connection("erp-legacy-sftp", kind="erp", partner="erp-legacy", adapter="csv_erp",
                              transport="sftp", endpoint=f"sftp://127.0.0.1:{sftp_server.port}/erp",
                              credentials={"username": SFTP_USER, "password": SFTP_PASSWORD},
                              options={"host_key": sftp_server.public_key}, timeout_seconds=5)
    erp = get_erp_adapter(conn)
    [doc] = erp.pull_payment_batches()
    assert read_json(doc) == canonical("PR-1", entity="US01")
    assert list((sftp_server.root / "erp" / "export" / "payments").iterdir()) == []
    assert len(list((sftp_server.root / "erp" / "archive" / "payments").iterdir())) == 1
    answer = erp.post_journal(outbound_document(journal("JRN-S", entity="US01", lines=us_lines()), "JRN-S.json"))
    assert answer == {"status": "submitted", "reference": "JRN-S.csv"}
    assert (sftp_server.root / "erp" / "import" / "journals" / "JRN-S.csv").exists()
