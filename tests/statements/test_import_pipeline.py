"""The import pipeline on PostgreSQL: dedupe, checks and their cases, returns, cash positions, retry."""

import io
import re
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.core.models import Event, RawDocument
from apps.exceptions.models import CaseStatus, ExceptionCase
from apps.exceptions.services import case_retry
from apps.org.services import bank_account_upsert
from apps.statements.models import CashPosition, ImportRun, Statement, StatementEntry
from apps.statements.services import statement_file_import
from tests.statements.builders import E, camt

IBAN = "DE89370400440532013000"


def run(content: bytes, name: str = "stmt.xml", **kw):
    return statement_file_import(content=content, filename=name, source="test", **kw)


@pytest.fixture
def account(account_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return account_a


def test_import_then_same_file_again_is_a_no_op(account):
    content = camt(entries=[E("100.00", ref="R1"), E("-40.00", ref="R2")])
    first = run(content)
    assert (first.status, first.entries_created, first.entries_duplicate) == ("imported", 2, 0)
    s = first.statements[0]
    assert (s.opening_balance, s.closing_balance, s.credits, s.debits, s.balances_reconcile) == (
        Decimal("1000.00"), Decimal("1060.00"), Decimal("100.00"), Decimal("40.00"), True)
    again = run(content, name="renamed.xml")
    assert again.status == "duplicate" and "already imported" in again.error
    assert StatementEntry.objects.count() == 2 and Statement.objects.count() == 1
    assert RawDocument.objects.count() == 1 and ImportRun.objects.count() == 1
    entry = StatementEntry.objects.get(servicer_reference="R1")
    assert entry.raw_document.sha256 == first.sha256 and entry.amount == Decimal("100.00")
    assert Event.objects.filter(type="statement.received").count() == 1


def test_overlapping_statements_do_not_book_twice(account):
    a = camt(stmt_id="A", entries=[E("10.00", ref="X1"), E("20.00", ref="X2")])
    b = camt(stmt_id="B", opening="1030.00", entries=[E("20.00", ref="X2"), E("30.00", ref="X3")],
             period=("2026-11-02", "2026-11-03"))
    run(a)
    second = run(b)
    assert (second.entries_created, second.entries_duplicate) == (1, 1)
    assert sorted(StatementEntry.objects.values_list("servicer_reference", flat=True)) == ["X1", "X2", "X3"]


def test_two_identical_genuine_bookings_both_survive_and_are_recognised_again(account):
    card = [E("-4.20", text="CARD 1234 COFFEE"), E("-4.20", text="CARD 1234 COFFEE")]
    first = run(camt(stmt_id="S1", entries=card))
    assert first.entries_created == 2
    assert sorted(StatementEntry.objects.values_list("occurrence", flat=True)) == [1, 2]
    resent = run(camt(stmt_id="S1-resent", entries=card, seq="1"))
    assert (resent.entries_created, resent.entries_duplicate) == (0, 2)
    assert StatementEntry.objects.count() == 2


def test_intraday_pending_is_superseded_by_the_booked_entry(account):
    intraday = camt(kind="052", stmt_id="I1", entries=[E("75.00", e2e="E2E-9", status="PDNG", text="INV 9")])
    assert run(intraday, "intraday.xml").entries_created == 1
    pending = StatementEntry.objects.get()
    assert pending.status == "pending" and pending.booking_date is None
    eod = run(camt(stmt_id="D1", entries=[E("75.00", e2e="E2E-9", text="INV 9")]), "eod.xml")
    assert (eod.entries_created, eod.entries_duplicate) == (0, 1)
    booked = StatementEntry.objects.get()
    assert booked.pk == pending.pk and booked.status == "booked" and booked.superseded_at is not None
    assert str(booked.booking_date) == "2026-11-02"
    assert booked.statement.statement_id == "D1"


def test_bank_reusing_a_statement_id_next_year_keeps_both_years(account):
    run(camt(stmt_id="001", entries=[E("5.00", day="2025-11-02")], period=("2025-11-02", "2025-11-02")))
    later = run(camt(stmt_id="001", opening="1005.00", entries=[E("5.00", day="2026-11-02")]))
    assert later.entries_created == 1 and StatementEntry.objects.count() == 2


def test_multi_account_file_imports_the_good_statement_and_opens_a_case_for_the_unknown(account, entity_a):
    good = camt(stmt_id="G", entries=[E("1.00", ref="G1")]).decode()
    unknown = camt(iban="DE65100700000123456789", stmt_id="U", entries=[E("2.00", ref="U1")]).decode()
    stmt_start = unknown.index("<Stmt>")
    combined = good.replace("</Stmt>", "</Stmt>" + unknown[stmt_start:unknown.index("</Stmt>") + 7], 1)
    result = run(combined.encode(), "two.xml")
    assert result.status == "imported"
    assert [s.error for s in result.statements] == ["", "unknown bank account 'DE65100700000123456789'"]
    assert result.entries_created == 1
    case = ExceptionCase.objects.get(kind="statement.unknown_account")
    assert "DE65100700000123456789" in case.message and case.raw_document.sha256 == result.sha256
    # Once the account is configured, retrying the case imports the rest of the file; nothing twice.
    bank_account_upsert(entity_code=entity_a.code, bank_code=account.bank.code, currency="EUR", name="Payroll",
                        iban="DE65100700000123456789")
    clerk_case = case_retry(case_id=case.pk, actor=None)
    assert clerk_case.status == CaseStatus.RESOLVED and clerk_case.resolution == "retried"
    assert sorted(StatementEntry.objects.values_list("servicer_reference", flat=True)) == ["G1", "U1"]


def test_file_for_an_unknown_account_only_is_rejected_and_kept(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    result = run(camt(entries=[E("1.00")]), "lonely.xml")
    assert result.status == "rejected" and "unknown bank account 'DE89370400440532013000'" in result.error
    assert RawDocument.objects.filter(sha256=result.sha256).exists()
    case = ExceptionCase.objects.get(kind="statement.rejected")
    assert case.raw_document.sha256 == result.sha256 and not StatementEntry.objects.exists()


def test_currency_mismatch_opens_a_case(account):
    result = run(camt(currency="USD", entries=[E("1.00")]))
    assert result.status == "rejected"
    assert "currency USD does not match the account's currency EUR" in result.error
    assert ExceptionCase.objects.filter(kind="statement.rejected").count() == 1


def test_unbalanced_statement_is_imported_and_opens_a_case_with_the_figures(account):
    result = run(camt(closing="1200.00", entries=[E("100.00", ref="A")]))
    assert result.status == "imported" and result.statements[0].balances_reconcile is False
    case = ExceptionCase.objects.get(kind="statement.unbalanced")
    assert case.amount == Decimal("100.00000") and case.currency == "EUR"
    assert "= 1,100.00 EUR, but the bank reports a closing balance of 1,200.00 EUR" in case.message
    assert case.legal_entity == account.entity


def test_gap_in_balance_continuity_and_sequence_opens_a_case(account):
    run(camt(stmt_id="D1", seq="7", entries=[E("10.00", ref="A")], period=("2026-11-02", "2026-11-02")))
    run(camt(stmt_id="D3", seq="9", opening="1500.00", entries=[E("10.00", ref="B", day="2026-11-04")],
             period=("2026-11-04", "2026-11-04")))
    case = ExceptionCase.objects.get(kind="statement.gap")
    assert "opening balance 1,500.00 EUR differs from the closing balance 1,010.00 EUR" in case.message
    assert "sequence number 9 does not follow 7" in case.message


def test_malformed_file_is_rejected_with_its_location_and_nothing_half_written(account):
    content = camt(entries=[E("1.00", ref="A"), E("2.00", ref="B")]).replace(b"<Amt Ccy=\"EUR\">2.00", b"<Amt Ccy=\"EUR\">2,00")
    result = run(content, "bad.xml")
    assert result.status == "rejected"
    assert re.search(r"line \d+, /Document/BkToCstmrStmt/Stmt/Ntry", result.error) and "'2,00'" in result.error
    assert not StatementEntry.objects.exists() and not Statement.objects.exists()
    case = ExceptionCase.objects.get(kind="statement.rejected")
    assert "bad.xml was rejected" in case.message and case.raw_document is not None


@pytest.mark.parametrize("attack", [
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>',
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    b"<Document>&b;</Document>",
])
def test_hostile_xml_is_refused_through_the_pipeline(account, attack):
    result = run(attack, "evil.xml")
    assert result.status == "rejected" and "DOCTYPE" in result.error
    assert ExceptionCase.objects.filter(kind="statement.rejected").count() == 1


def test_returns_raise_an_event_with_the_original_end_to_end_id(account):
    run(camt(entries=[E("-250.00", ref="RT1", e2e="PAY-42", code=("PMNT", "ICDT", "RRTN"),
                      return_reason="AC04")]))
    entry = StatementEntry.objects.get()
    assert entry.is_return and entry.return_reason == "AC04"
    event = Event.objects.get(type="statement.entry_returned")
    assert event.payload["original_end_to_end_id"] == "PAY-42" and event.payload["return_reason"] == "AC04"
    assert event.payload["amount"] == "-250.00"


def test_cash_position_follows_the_latest_end_of_day_balance(account):
    run(camt(stmt_id="D1", entries=[E("10.00", ref="A")]))
    position = CashPosition.objects.get(bank_account=account)
    assert (str(position.date), position.closing_booked, position.intraday) == ("2026-11-02", Decimal("1010.00"), False)


def test_bank_import_json_contract_and_exit_code(account, tmp_path, capsys):
    good = tmp_path / "good.xml"
    good.write_bytes(camt(entries=[E("1.00", ref="J1")]))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello, this is not a bank file\n")
    with pytest.raises(SystemExit) as exit_info:
        call_command("bank_import", str(good), str(bad), "--json")
    assert exit_info.value.code == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["status"] == "imported" and lines[0]["format"] == "camt.053.001.02"
    assert lines[0]["statements"][0] == {
        "account": IBAN, "currency": "EUR", "statement_id": "STMT-1", "kind": "end_of_day",
        "opening_balance": "1000.00", "closing_balance": "1001.00", "entries": 1, "credits": "1.00",
        "debits": "0", "balances_reconcile": True,
    }
    assert (lines[0]["entries_created"], lines[0]["entries_duplicate"]) == (1, 0)
    assert lines[1]["status"] == "rejected" and lines[1]["error"]
    assert set(lines[1]) >= {"path", "sha256", "format", "status", "error", "statements", "entries_created",
                             "entries_duplicate"}


def test_dry_run_needs_no_account_and_writes_nothing(db, tmp_path, capsys):
    path = tmp_path / "x.xml"
    path.write_bytes(camt(entries=[E("1.00")]))
    call_command("bank_import", str(path), "--dry-run", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "imported" and data["dry_run"] is True and data["statements"][0]["entries"] == 1
    assert not RawDocument.objects.exists() and not ImportRun.objects.exists()


def test_unknown_format_is_rejected_with_what_was_looked_at(account):
    result = run(b"just some words\nthat are not a statement\n", "notes.txt")
    assert result.status == "rejected" and result.error
    assert ExceptionCase.objects.filter(kind="statement.rejected").exists()


def test_importing_needs_the_import_permission(make_user, account):
    from apps.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        run(camt(entries=[E("1.00")]), actor=make_user("auditor", all_entities=True))
    assert not RawDocument.objects.exists()
    result = run(camt(entries=[E("1.00")]), actor=make_user("treasury", all_entities=True))
    assert result.status == "imported"


def test_memory_stream_input_works(account):
    result = statement_file_import(content=io.BytesIO(camt(entries=[E("3.00", ref="M")])), filename="m.xml")
    assert result.entries_created == 1


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_files_imported_at_once_book_each_entry_once(account_a, settings, tmp_path):
    import threading

    from django.db import connection

    settings.MEDIA_ROOT = tmp_path
    shared = [E(f"{n}.00", ref=f"SH{n}") for n in range(1, 40)]
    files = [camt(stmt_id="P1", entries=shared + [E("0.50", ref="ONLY1")]),
             camt(stmt_id="P2", entries=shared + [E("0.70", ref="ONLY2")])]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def work(content):
        try:
            barrier.wait()
            results.append(run(content))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [r.status for r in results] == ["imported", "imported"]
    assert StatementEntry.objects.count() == 41
    assert sum(r.entries_created for r in results) == 41
    assert sum(r.entries_created + r.entries_duplicate for r in results) == 80


BATCH = E("300.00", ref="BATCH-1", batch=(("INV-A", "100.00"), ("INV-B", "150.00"), ("INV-C", "50.00")))
DETAILS = [E("100.00", e2e="INV-A"), E("150.00", e2e="INV-B"), E("50.00", e2e="INV-C")]


@pytest.mark.parametrize("order", ["batch_first", "details_first"])
def test_camt054_details_of_a_batched_booking_are_linked_not_extra_money(account, order):
    files = [camt(stmt_id="EOD", entries=[BATCH]), camt(kind="054", stmt_id="N1", entries=DETAILS)]
    if order == "details_first":
        files.reverse()
    for content in files:
        assert run(content, f"{order}.xml").status == "imported"
    batch = StatementEntry.objects.get(servicer_reference="BATCH-1")
    details = StatementEntry.objects.filter(statement__kind="notification")
    assert sorted(details.values_list("end_to_end_id", flat=True)) == ["INV-A", "INV-B", "INV-C"]
    assert set(details.values_list("detail_of", flat=True)) == {batch.pk}
    money = StatementEntry.objects.filter(detail_of__isnull=True)
    assert list(money.values_list("amount", flat=True)) == [Decimal("300.00000")]
    # the batch's transactions are stored as a JSON array; an entry without charges stores an empty array
    assert [(t["end_to_end_id"], t["amount"]) for t in batch.transactions] == [
        ("INV-A", "100.00"), ("INV-B", "150.00"), ("INV-C", "50.00")]
    assert batch.charges == []


@pytest.mark.django_db(transaction=True)
def test_files_fetched_by_a_bank_channel_are_imported_once(account_a, settings, tmp_path):
    from django.db import transaction

    from apps.core.events import event_emit, outbox_relay
    from apps.core.models import Event
    from apps.core.services import document_store

    settings.MEDIA_ROOT = tmp_path
    doc, _ = document_store(content=camt(entries=[E("9.00", ref="CH1")]), source="bank:DEUT",
                            media_type="application/xml", filename="fetched.xml")
    with transaction.atomic():
        event = event_emit("connection.documents_received", account_a, {
            "connection": "deut-sftp", "operation": "fetch_statements", "documents": [doc.pk]})
    run_row = ImportRun.objects.get(raw_document=doc)
    assert run_row.source == "channel:deut-sftp" and run_row.status == "imported"  # relayed and run on commit
    Event.objects.filter(pk=event.pk).update(published_at=None)  # the relay delivers it again
    outbox_relay()
    assert ImportRun.objects.filter(raw_document=doc).count() == 1
    assert StatementEntry.objects.count() == 1
