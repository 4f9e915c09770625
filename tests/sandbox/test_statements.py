"""sandbox_tick: execution, camt.054 per payment, end-of-day camt.053 / MT940 that the hub's parser reads and whose
balances reconcile and continue day to day, seeded credits, returns (statement RRTN and pain.002 RJCT)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from django.core.management import call_command

from apps.sandbox.models import PaymentStatus, SandboxAccount, SandboxDocument, SandboxPayment
from apps.sandbox.services import sandbox_credit_seed, sandbox_payment_return, sandbox_tick
from apps.statements.parsers import collect  # tests only: the sandbox itself never imports the hub
from tests.sandbox.builders import DEBTOR, INTERNAL, OUTSIDE, P, T, one, pain001
from tests.sandbox.conftest import assert_valid, make_bank, tx_statuses, xsd

DAY1 = dt.date(2026, 11, 2)
DAY2 = dt.date(2026, 11, 3)


def _statements(bank, account_iban=DEBTOR):
    docs = SandboxDocument.objects.filter(bank=bank, kind="statement", account__iban=account_iban).order_by("pk")
    return [bytes(d.content) for d in docs]


def _parse(content: bytes):
    [(statement, entries)] = collect(io.BytesIO(content))
    return statement, entries


def test_camt053_parses_reconciles_and_continues(bank, bank_client):
    _bank, _key = bank
    bank_client.post_pain(pain001(msg_id="M1", pmt_infs=[P([T("PAY-1", amount="100.00"),
                                                             T("PAY-2", amount="250.50", iban=INTERNAL)])]))
    sandbox_credit_seed(bank_code="SBX", account=DEBTOR, amount="1000.00", debtor_name="Customer AG",
                        debtor_account=OUTSIDE, remittance="INV-77", end_to_end_id="CUST-77", booking_date=DAY1)
    [result] = sandbox_tick(bank_code="SBX", end_of_day=True, today=DAY1)
    assert (result.executed, result.statements, result.business_date) == (2, 3, "2026-11-03")

    [day1] = _statements(_bank)
    assert_valid(xsd("camt.053.001.02.xsd"), day1)
    statement, entries = _parse(day1)
    assert statement.account == DEBTOR and statement.currency == "EUR"
    assert statement.opening_booked == Decimal("10000.00")
    assert statement.closing_booked == Decimal("10649.50")
    assert statement.reconciles()
    assert sorted((e.amount, e.end_to_end_id) for e in entries) == [
        (Decimal("-250.50"), "PAY-2"), (Decimal("-100.00"), "PAY-1"), (Decimal("1000.00"), "CUST-77")]
    assert all(e.booking_date == DAY1 for e in entries)
    # the internal counterpart got the money
    [internal] = _statements(_bank, INTERNAL)
    internal_stmt, internal_entries = _parse(internal)
    assert internal_stmt.closing_booked == Decimal("250.50") and internal_entries[0].end_to_end_id == "PAY-2"

    # camt.054 debit notification per executed payment
    notes = SandboxDocument.objects.filter(bank=_bank, kind="notification").order_by("pk")
    assert notes.count() == 2
    for note in notes:
        assert_valid(xsd("camt.054.001.02.xsd"), bytes(note.content))
    [(ntf, [ntf_entry])] = collect(io.BytesIO(bytes(notes[0].content)))
    assert ntf_entry.amount == Decimal("-100.00") and ntf_entry.end_to_end_id == "PAY-1"

    # next day: opening = previous closing, sequence + 1 (also a day without bookings)
    bank_client.post_pain(one("PAY-3", msg_id="M2", amount="49.50"))
    sandbox_tick(bank_code="SBX", end_of_day=True, today=DAY2)
    sandbox_tick(bank_code="SBX", end_of_day=True, today=DAY2)
    days = [_parse(c)[0] for c in _statements(_bank)]
    assert [s.sequence for s in days] == ["1", "2", "3"]
    assert days[1].opening_booked == days[0].closing_booked and days[2].opening_booked == days[1].closing_booked
    assert days[1].closing_booked == Decimal("10600.00") == days[2].closing_booked
    assert all(s.reconciles() for s in days)
    assert SandboxAccount.objects.get(iban=DEBTOR).balance == Decimal("10600.00")

    # listed over REST, downloadable
    items = bank_client.call("get", "statements").json()["items"]
    assert {i["kind"] for i in items} == {"statement", "notification"}
    assert bank_client.call("get", f"statements/{items[0]['id']}/content").content == bytes(
        SandboxDocument.objects.get(pk=items[0]["id"]).content)


def test_mt940_variant_parses_and_reconciles(db, settings):
    make_bank(code="SBM", statement_format="mt940")
    from apps.sandbox.services import sandbox_payment_file_receive

    sandbox_payment_file_receive(bank_code="SBM", content=one("MT-1", amount="75.25"))
    sandbox_credit_seed(bank_code="SBM", account=DEBTOR, amount="10.00", end_to_end_id="IN-1", remittance="Thanks",
                        booking_date=DAY1)
    sandbox_tick(bank_code="SBM", end_of_day=True, today=DAY1)
    sandbox_tick(bank_code="SBM", end_of_day=True, today=DAY2)
    docs = [bytes(d.content) for d in SandboxDocument.objects.filter(
        bank__code="SBM", kind="statement", account__iban=DEBTOR).order_by("pk")]
    assert len(docs) == 2 and not SandboxDocument.objects.filter(bank__code="SBM", kind="notification").exists()
    first, entries = _parse(docs[0])
    assert first.account == DEBTOR and first.opening_booked == Decimal("10000.00")
    assert first.closing_booked == Decimal("9934.75") and first.reconciles()
    assert sorted((e.amount, e.end_to_end_id) for e in entries) == [
        (Decimal("-75.25"), "MT-1"), (Decimal("10.00"), "IN-1")]
    second, _ = _parse(docs[1])
    assert second.opening_booked == first.closing_booked and second.reconciles()


def test_return_rule_books_rrtn_with_reason_and_original_e2e(bank, bank_client):
    _bank, _key = bank
    _bank.return_accounts = [OUTSIDE]
    _bank.save()
    response = bank_client.post_pain(one("RET-1", amount="300.00"))
    assert response.json()["group_status"] == "ACCP"  # accepted first ...
    sandbox_tick(bank_code="SBX", end_of_day=True, today=DAY1)
    sandbox_tick(bank_code="SBX", end_of_day=True, today=DAY2)
    day1, day2 = (_parse(c) for c in _statements(_bank))
    assert [e.amount for e in day1[1]] == [Decimal("-300.00")]
    [ret] = day2[1]  # ... and returned on the next statement
    assert ret.amount == Decimal("300.00") and ret.is_return
    assert ret.raw_type_code == "PMNT/ICDT/RRTN" or (ret.bank_tx_code and "RRTN" in str(ret.bank_tx_code))
    assert ret.return_reason == "AC04" and ret.original_end_to_end_id == "RET-1"
    assert day2[0].closing_booked == Decimal("10000.00") and day2[0].reconciles()
    payment = SandboxPayment.objects.get(end_to_end_id="RET-1")
    assert (payment.status, payment.reason, payment.returned_on) == (PaymentStatus.RETURNED, "AC04", DAY2)


def test_admin_return_of_executed_payment_and_reject_after_acceptance(bank, bank_client):
    _bank, _key = bank
    bank_client.post_pain(one("ADM-1", amount="40.00", msg_id="MA"))
    bank_client.post_pain(one("ADM-2", amount="60.00", msg_id="MB", iban=INTERNAL))
    sandbox_tick(bank_code="SBX", end_of_day=True, today=DAY1)
    sandbox_payment_return(payment_id=SandboxPayment.objects.get(end_to_end_id="ADM-1").pk, reason="MD07")
    # accepted, not yet due: reject after acceptance with a pain.002 RJCT
    bank_client.post_pain(pain001(msg_id="MC", pmt_infs=[P([T("ADM-3", amount="5.00")], date="2026-11-20")]))
    sandbox_payment_return(payment_id=SandboxPayment.objects.get(end_to_end_id="ADM-3").pk, reason="AC04")
    later = bank_client.reports()[-1]
    assert tx_statuses(later) == {"ADM-3": ("RJCT", "AC04")}
    sandbox_tick(bank_code="SBX", end_of_day=True, today=DAY2)
    _, entries = _parse(_statements(_bank)[-1])
    assert [(e.amount, e.return_reason, e.original_end_to_end_id) for e in entries] == [
        (Decimal("40.00"), "MD07", "ADM-1")]
    assert SandboxPayment.objects.get(end_to_end_id="ADM-3").status == PaymentStatus.REJECTED


def test_return_mode_status_report_rejects_after_accp(bank, bank_client):
    _bank, _key = bank
    _bank.return_accounts, _bank.return_mode = [OUTSIDE], "status_report"
    _bank.save()
    bank_client.post_pain(one("SR-1", version="09"))
    sandbox_tick(bank_code="SBX", end_of_day=True, today=DAY1)
    first, second = bank_client.reports()
    assert tx_statuses(first) == {"SR-1": ("ACCP", "")} and tx_statuses(second) == {"SR-1": ("RJCT", "AC04")}
    assert_valid(xsd("pain.002.001.10.xsd"), second)
    _, entries = _parse(_statements(_bank)[0])
    assert entries == []


def test_file_inbox_and_outbox(bank, sandbox_root, django_capture_on_commit_callbacks):
    inbox = sandbox_root / "SBX" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "pay.xml").write_bytes(one("FILE-1"))
    (inbox / "evil.xml").write_bytes(b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>')
    (inbox / "half.xml.part").write_bytes(b"<Doc")
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # files are written once the bank's data is committed
        call_command("sandbox_tick", "--bank", "SBX", "--end-of-day", "--today", DAY1.isoformat(), stdout=out)
    assert '"inbox_files": 1' in out.getvalue() and '"inbox_refused": 1' in out.getvalue()
    assert sorted(p.name for p in inbox.iterdir()) == ["half.xml.part"]
    assert (sandbox_root / "SBX" / "processed" / "pay.xml").exists()
    assert "FF01" in (sandbox_root / "SBX" / "rejected" / "evil.xml.reason.txt").read_text()
    [report] = list((sandbox_root / "SBX" / "outbox" / "status-reports").iterdir())
    assert tx_statuses(report.read_bytes()) == {"FILE-1": ("ACCP", "")}
    names = sorted(p.name for p in (sandbox_root / "SBX" / "outbox" / "statements").iterdir())
    assert "camt.053_DE89370400440532013000_00001.xml" in names
    assert any(n.startswith("camt.054_DE89370400440532013000") for n in names)
    # the same file dropped again (same bytes) is recognised, not a DU01
    (inbox / "pay.xml").write_bytes(one("FILE-1"))
    with django_capture_on_commit_callbacks(execute=True):
        sandbox_tick(bank_code="SBX", today=DAY1)
    assert len(list((sandbox_root / "SBX" / "outbox" / "status-reports").iterdir())) == 1
