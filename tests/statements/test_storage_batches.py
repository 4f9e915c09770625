"""Entries stored a batch at a time while the next batch is parsed (PostgreSQL): dedupe across batches and files,
errors half-way, foreign keys checked as each batch is stored."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from apps.core.services import document_store
from apps.exceptions.models import ExceptionCase
from apps.statements import services
from apps.statements.models import ImportRun, Statement, StatementEntry
from apps.statements.services import statement_file_import
from apps.statements.storage import COLUMN, COLUMNS, NO_ITEMS, store_batch, store_batches

IBAN = "DE89370400440532013000"


def mt940(entries: list[tuple[str, str]], *, ref: str = "STMT-1", opening: str = "100,00") -> bytes:
    """An MT940 statement; ``entries`` are (signed amount with a comma, remittance text)."""
    total = Decimal(opening.replace(",", "."))
    lines = [":20:" + ref, f":25:{IBAN}", ":28C:1", f":60F:C261102EUR{opening}"]
    for n, (amount, text) in enumerate(entries):
        value = Decimal(amount.replace(",", "."))
        total += value
        mark = "D" if value < 0 else "C"
        lines += [f":61:2611021102{mark}{str(abs(value)).replace('.', ',')}NTRFE2E-{n}//B{n}",
                  f":86:/EREF/E2E-{n}//REMI/USTD//{text}/"]
    closing = f"{'D' if total < 0 else 'C'}261102EUR{str(abs(total)).replace('.', ',')}"
    return "\r\n".join([*lines, f":62F:{closing}", "-"]).encode() + b"\r\n"


def run(content: bytes, name: str):
    return statement_file_import(content=content, filename=name, source="test")


@pytest.fixture
def account(account_a, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(services, "BATCH_SIZE", 3)  # many batches, so several are in flight one after another
    return account_a


def test_many_batches_are_stored_once_and_recognised_again(account):
    entries = [(f"{n + 1},00", f"invoice {n}") for n in range(10)]
    entries[7] = entries[2]  # same amount and text, but its own end-to-end id and bank reference: a booking
    first = run(mt940(entries), "first.sta")
    assert (first.status, first.entries_created, first.entries_duplicate) == ("imported", 10, 0)
    assert first.statements[0].balances_reconcile is True
    assert StatementEntry.objects.count() == 10
    assert sorted(StatementEntry.objects.values_list("end_to_end_id", flat=True)) == sorted(
        f"E2E-{n}" for n in range(10))
    assert list(StatementEntry.objects.values_list("charges", "transactions")) == [([], [])] * 10  # JSON arrays
    again = run(mt940(entries, ref="STMT-1-RESENT"), "again.sta")
    assert (again.status, again.entries_created, again.entries_duplicate) == ("imported", 0, 10)
    assert StatementEntry.objects.count() == 10 and Statement.objects.count() == 2


def test_identical_bookings_in_different_batches_get_their_own_occurrence(account):
    card = [":61:2611021102D4,20NMSCNONREF", ":86:/REMI/USTD//CARD 1234 COFFEE/"] * 5
    content = "\r\n".join([":20:CARD", f":25:{IBAN}", ":28C:1", ":60F:C261102EUR100,00", *card,
                            ":62F:C261102EUR79,00", "-"]).encode()
    result = run(content, "card.sta")
    assert (result.entries_created, result.statements[0].balances_reconcile) == (5, True)
    assert sorted(StatementEntry.objects.values_list("occurrence", flat=True)) == [1, 2, 3, 4, 5]
    again = run(content.replace(b":20:CARD", b":20:CARD-RESENT"), "card-again.sta")
    assert (again.entries_created, again.entries_duplicate) == (0, 5)


def test_a_malformed_entry_in_a_later_batch_leaves_no_entry_behind(account):
    content = mt940([(f"{n + 1},00", f"invoice {n}") for n in range(10)])
    content = content.replace(b":61:2611021102C9,00", b":61:26110X1102C9,00")  # entry 9, in the fourth batch
    result = run(content, "broken.sta")
    assert result.status == "rejected" and "line" in result.error
    assert StatementEntry.objects.count() == 0 and Statement.objects.count() == 0
    assert ImportRun.objects.get().status == "rejected"
    assert ExceptionCase.objects.filter(kind="statement.rejected").count() == 1  # the connection was usable


def test_batches_are_yielded_in_order_and_the_connection_is_free_between_them(account, statement):
    batches = [[_row(account, statement, f"{n:064x}") for n in range(k, k + 2)] for k in range(0, 8, 2)]
    seen = []
    for rows, outcome in store_batches(iter(batches), may_supersede=False):
        seen.append([r[KEY] for r in rows])
        assert outcome.created_keys == {r[KEY] for r in rows} and outcome.duplicates == 0
        assert StatementEntry.objects.filter(natural_key__in=seen[-1]).count() == 2  # a query between batches
    assert seen == [[r[KEY] for r in b] for b in batches]


def test_an_error_while_reading_the_next_batch_waits_for_the_batch_in_flight(account, statement):

    def batches():
        yield [_row(account, statement, "a" * 64)]
        raise ValueError("the file broke")

    with pytest.raises(ValueError, match="the file broke"):
        for _ in store_batches(batches(), may_supersede=False):
            pass
    assert StatementEntry.objects.filter(natural_key="a" * 64).count() == 1  # stored, and the connection is free


@pytest.mark.parametrize("column", ["statement_id", "bank_account_id", "raw_document_id", "detail_of_id"])
def test_references_are_checked_when_the_batch_is_stored_not_at_commit(account, statement, column):
    row = _row(account, statement, "b" * 64)
    # no such statement or entry, or an account or raw document that is not the statement's
    row[COLUMN[column]] = (row[COLUMN[column]] or 0) + 1000
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            store_batch([row], may_supersede=False)
    assert not connection.needs_rollback


@pytest.fixture
def statement(account):
    document, _ = document_store(content=b"-", source="test", media_type="text/plain", filename="x.sta")
    run = ImportRun.objects.create(raw_document=document, source="test")
    return Statement.objects.create(bank_account=account, import_run=run, raw_document=document, kind="end_of_day",
                                    format="mt940", currency="EUR")


KEY = COLUMN["natural_key"]


def _row(account, statement, key: str) -> list:
    values = {
        "bank_account_id": account.pk, "statement_id": statement.pk, "raw_document_id": statement.raw_document_id,
        "natural_key": key, "occurrence": 1, "status": "booked", "booking_date": None, "value_date": None,
        "amount": Decimal("1.00"), "currency": "EUR", "direction": "credit", "bank_reference": "",
        "servicer_reference": "", "customer_reference": "", "end_to_end_id": "", "mandate_id": "",
        "counterparty_name": "", "counterparty_account": "", "counterparty_bic": "", "remittance_text": "",
        "structured_reference": "", "additional_info": "", "bank_tx_code": "", "bank_tx_category": "",
        "raw_type_code": "", "is_reversal": False, "is_return": False, "return_reason": "",
        "original_end_to_end_id": "", "original_amount": None, "original_currency": "", "exchange_rate": None,
        "charges": NO_ITEMS, "transactions": NO_ITEMS, "source_location": "", "detail_of_id": None, "superseded_at": None,
    }
    return [values[c] for c in COLUMNS]


def test_imports_space_out_garbage_collection_and_put_it_back(account, monkeypatch):
    import gc

    before = gc.get_threshold()
    during = []
    real = services._row_batches
    monkeypatch.setattr(services, "_row_batches", lambda *a: (during.append(gc.get_threshold()), real(*a))[1])
    assert run(mt940([("1,00", "a")]), "gc.sta").status == "imported"
    assert run(mt940([("1,00", "a")]).replace(b":61:2611021102", b":61:26110X1102"), "gc-bad.sta").status == "rejected"
    assert during[0][0] >= 100_000 and gc.get_threshold() == before  # also after a file that failed half-way


def test_occurrences_are_counted_exactly_as_the_table_grows():
    import random
    from collections import Counter

    rng = random.Random(5)
    hashes = [rng.randint(-2**63 + 1, 2**63 - 1) for _ in range(3000)]
    hashes += [h + (1 << 40) for h in hashes[:500]]  # the same low bits: they probe past each other
    hashes += [0, 1, -2] + rng.sample(hashes, 800)  # repeats (identical bookings), in any order
    rng.shuffle(hashes)
    counter, seen = services._Occurrences(size=8), Counter()
    got, want = [], []
    for h in hashes:
        seen[h or 1] += 1  # 0 is stored as 1
        want.append(seen[h or 1])
        got.append(counter.add(h))
    assert got == want and max(got) >= 2
