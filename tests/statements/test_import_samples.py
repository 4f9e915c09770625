"""Every real sample in ../shared/samples imports end to end (PostgreSQL), with the right counts and balances.

Accounts are configured from what each file names (as an admin would before the first import); the figures the
database then holds must equal the parser's, which tests/statements/test_parse_*.py check against values worked
out independently. Files that are invalid on purpose are rejected with a location and kept.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from apps.exceptions.models import ExceptionCase
from apps.org.services import bank_account_upsert
from apps.statements import parsers
from apps.statements.models import CsvMapping, Statement, StatementEntry
from apps.statements.services import bank_account_resolve, statement_file_import
from tests.statements.conftest import SAMPLES

STATEMENT_DIRS = ("camt052", "camt053", "camt054", "mt940", "mt942", "bai2")
INVALID = {
    "camt052_v01_genkgo.xml": "version 01",
    "camt053_v02_genkgo_invalid_wrong.xml": "no <Stmt>",
    "bai2_moov_invalid_parse_error.bai2": "line 1",
    "mt940_sparkasse_fragment_wolph.sta": "line 1",
    # Its opening balance 100.0000000000005 has 13 decimals; ISO 20022 amounts carry at most 5.
    "camt052_v08_hbci4java_invalid_saldo.xml": "balance 100.0000000000005 (opening booked) has more than 5 decimals",
}
# (statements, entries in the file, entries created): a file may repeat a booking it already holds (a second
# statement of the same account overlapping the first), which must be created once.
EXPECTED = {
    'camt052_v02_genkgo.xml': (1, 1, 1),
    'camt052_v02_hbci4java_ruecklastschrift.xml': (1, 1, 1),
    'camt052_v04_genkgo.xml': (1, 1, 1),
    'camt052_v06_genkgo.xml': (1, 1, 1),
    'camt052_v06_genkgo_amt_zero.xml': (1, 1, 1),
    'camt052_v06_subite_lt_1.xml': (1, 0, 0),
    'camt052_v08_genkgo.xml': (1, 1, 1),
    'camt053_v02_abnamro_example.xml': (1, 13, 13),
    'camt053_v02_genkgo_all_balance_types.xml': (1, 1, 1),
    'camt053_v02_genkgo_five_decimals.xml': (1, 1, 1),
    'camt053_v02_genkgo_minimal.xml': (1, 1, 1),
    'camt053_v02_genkgo_multi_statement.xml': (2, 2, 2),
    'camt053_v02_genkgo_no_entries_dttm.xml': (1, 0, 0),
    'camt053_v02_genkgo_with_party_ids.xml': (1, 1, 1),
    'camt053_v02_goldmansachs_uk.xml': (2, 6, 6),
    'camt053_v02_ing_example.xml': (1, 9, 9),
    'camt053_v02_oca_abnamro.xml': (1, 3, 3),
    'camt053_v02_subite_be_account_statement.xml': (1, 3, 3),
    'camt053_v03_genkgo.xml': (1, 1, 1),
    'camt053_v04_genkgo.xml': (1, 1, 1),
    'camt053_v04_oca_ch_txdtls.xml': (1, 1, 1),
    'camt053_v04_oca_no_entries.xml': (1, 0, 0),
    'camt053_v08_genkgo.xml': (1, 1, 1),
    'camt053_v08_subite_lt_2024-03-07.xml': (2, 3, 3),
    'camt053_v08_subite_lt_2024-03-08.xml': (2, 4, 4),
    'camt054_v02_genkgo.xml': (1, 1, 1),
    'camt054_v04_genkgo.xml': (1, 1, 1),
    'camt054_v04_oca.xml': (1, 1, 1),
    'camt054_v04_postfinance_credit.xml': (1, 1, 1),
    'camt054_v04_postfinance_esr.xml': (1, 2, 2),
    'camt054_v04_postfinance_returns.xml': (1, 1, 1),
    'camt054_v08_genkgo.xml': (1, 1, 1),
    'camt054_v08_genkgo_uetr.xml': (1, 1, 1),
    'camt054_v10_subite_lt_1.xml': (1, 1, 1),
    'mt940_abn_fruitl00p_issue48.txt': (1, 2, 2),
    'mt940_abnamro_wolph-jejik.sta': (2, 10, 10),
    'mt940_asn_fruitl00p.txt': (7, 3, 3),
    'mt940_asnbank_wolph.txt': (31, 8, 8),
    'mt940_bunq_fruitl00p.txt': (1, 111, 111),
    'mt940_citi_wolph.txt': (1, 5, 5),
    'mt940_cmxl_multi.sta': (3, 16, 16),
    'mt940_hbci4java_001.sta': (1, 2, 2),
    'mt940_hsbc_fruitl00p.txt': (1, 1, 1),
    'mt940_ing_fruitl00p.txt': (1, 7, 7),
    'mt940_ing_oca.940': (1, 8, 8),
    'mt940_ing_wolph-jejik.sta': (1, 7, 7),
    'mt940_kbs_fruitl00p.txt': (1, 3, 3),
    'mt940_knab_wolph-jejik.sta': (2, 3, 3),
    'mt940_kontist_fruitl00p.txt': (1, 6, 6),
    'mt940_mbank_newline_in_tnr_wolph.sta': (1, 2, 2),
    'mt940_mbank_wolph.sta': (1, 3, 3),
    'mt940_olb_null_balance_jejik.txt': (1, 1, 1),
    'mt940_penta_fruitl00p.txt': (1, 30, 30),
    'mt940_postfinance_wolph-jejik.sta': (2, 4, 4),
    'mt940_rabo_fruitl00p_multi.txt': (39, 39, 39),
    'mt940_rabobank_wolph-jejik.sta': (4, 5, 5),
    'mt940_raiffeisen_hu_wolph.sta': (1, 7, 7),
    'mt940_sepa_multi_betterplace.sta': (26, 97, 97),
    'mt940_sns_oca.940': (3, 8, 8),
    'mt940_sns_wolph-jejik.sta': (2, 2, 2),
    'mt940_sparkasse_reversal_jejik.txt': (1, 1, 1),
    'mt940_spk_fruitl00p.txt': (4, 10, 10),
    'mt940_triodos_wolph-jejik.sta': (1, 2, 2),
    'mt940_zetb_fruitl00p.txt': (1, 8, 8),
    'mt942_mbank_wolph.sta': (1, 3, 3),
    'bai2_citi_moj.bai2': (1, 1, 1),
    'bai2_moov_sample2.bai2': (5, 4, 4),
    'bai2_moov_sample3.bai2': (15, 26, 26),
    'bai2_moov_sample4-continuations-newline-delimited.bai2': (5, 17, 17),
    'bai2_moov_sample5-issue113.bai2': (5, 20, 20),
    'bai2_trailer_amount_blank_moj.bai2': (2, 0, 0),
    'csv_adyen_settlement_380_oca.csv': (1, 228, 228),
    'csv_generic_sample_statement_oca.csv': (2, 2, 2),
    'csv_paypal_activity_en_oca.csv': (3, 76, 76),
    'csv_paypal_statement_en_oca.csv': (2, 19, 19),
}

CSV_MAPPINGS = {
    "csv_generic_sample_statement_oca.csv": dict(
        date="Date", date_format="%m/%d/%Y", amount="Amount", currency="Currency", thousands_separator=",",
        description="Label", counterparty_name="Partner Name", counterparty_account="Bank Account",
        account="GENERIC-1"),
    "csv_paypal_statement_en_oca.csv": dict(
        date="Date", date_format="%m/%d/%Y", amount="Net", currency="Currency", balance="Balance",
        description="Description", counterparty_name="Name", reference="Transaction ID",
        thousands_separator=",", account="paypal@my-company.com"),
    "csv_paypal_activity_en_oca.csv": dict(
        date="Date", date_format="%d/%m/%Y", amount="Net", currency="Currency", thousands_separator=",",
        account="PAYPAL-ACTIVITY"),
    "csv_adyen_settlement_380_oca.csv": dict(
        date="Creation Date", date_format="%Y-%m-%d %H:%M:%S", debit="Net Debit (NC)", credit="Net Credit (NC)",
        currency="Net Currency", description=["Type", "Merchant Reference"], reference="Psp Reference",
        account="ADYEN-380"),
}


def _files(dirs):
    if not SAMPLES.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"shared samples not found at {SAMPLES}"))]
    return [pytest.param(p, id=p.name) for d in dirs for p in sorted((SAMPLES / d).iterdir())]


def _configure_accounts(path: Path, mapping=None) -> list:
    """Create a bank account for every account the file names, in its currency."""
    with path.open("rb") as fh:
        collected = parsers.collect(fh, csv_mapping=mapping)
    for statement, entries in collected:
        currency = statement.currency or next((e.currency for e in entries if e.currency), None) or "EUR"
        known = bank_account_resolve(statement.account, currency)
        if known is not None and known.currency == currency:
            continue
        ident = statement.account or ""
        try:
            iban = IBAN(ident.replace(" ", "")[:34]).compact
        except SchwiftyException:
            try:
                iban = IBAN(ident.replace(" ", "")[:-3]).compact if ident[-3:].isalpha() else ""
            except SchwiftyException:
                iban = ""
        bank_account_upsert(entity_code="DE01", bank_code="DEUT", currency=currency, name=ident[:200],
                            iban=iban, account_number="" if iban else ident.replace(" ", "")[:34])
    return collected


@pytest.fixture
def org(entity_a, bank_partner, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize("path", _files(STATEMENT_DIRS))
def test_sample_imports_with_the_parsers_figures(org, path):
    if path.name in INVALID:
        _configure_accounts(path) if path.name.startswith("camt052_v08") else None
        result = statement_file_import(content=path.read_bytes(), filename=path.name, source="test")
        assert result.status == "rejected" and INVALID[path.name] in result.error
        assert ExceptionCase.objects.filter(kind="statement.rejected", raw_document__sha256=result.sha256).exists()
        return
    collected = _configure_accounts(path)
    result = statement_file_import(content=path.read_bytes(), filename=path.name, source="test")
    assert result.status == "imported", result.error
    assert [s.error for s in result.statements] == [""] * len(collected)
    stored = list(Statement.objects.order_by("pk"))
    assert len(stored) == len(collected)
    for row, (parsed, entries) in zip(stored, collected, strict=True):
        assert row.entry_count == len(entries) == parsed.entry_count
        assert (row.opening_booked, row.closing_booked) == (parsed.opening_booked, parsed.closing_booked)
        assert (row.total_credits, row.total_debits) == (parsed.total_credits, parsed.total_debits)
        assert row.balances_reconcile == parsed.reconciles()
        assert ExceptionCase.objects.filter(kind="statement.unbalanced", subject_id=str(row.pk)).exists() == (
            parsed.reconciles() is False)
        assert StatementEntry.objects.filter(bank_account=row.bank_account, statement=row).count() == \
            row.entries_created
    total = sum(len(entries) for _, entries in collected)
    assert result.entries_created + result.entries_duplicate == total
    assert StatementEntry.objects.count() == result.entries_created
    assert (len(collected), total, result.entries_created) == EXPECTED[path.name]
    again = statement_file_import(content=path.read_bytes(), filename=path.name, source="test")
    assert again.status == "duplicate" and StatementEntry.objects.count() == result.entries_created


@pytest.mark.parametrize("path", _files(("csv",)))
def test_csv_sample_imports_with_its_saved_mapping(org, path):
    config = CSV_MAPPINGS[path.name]
    mapping = CsvMapping.objects.create(name=path.stem, config=config)
    from apps.statements.services import _csv_mapping

    collected = _configure_accounts(path, _csv_mapping(mapping))
    result = statement_file_import(content=path.read_bytes(), filename=path.name, source="test",
                                   csv_mapping=mapping)
    assert result.status == "imported", result.error
    total = sum(len(entries) for _, entries in collected)
    assert [s.entries for s in result.statements] == [len(e) for _, e in collected]
    assert result.entries_created + result.entries_duplicate == total
    assert Decimal(sum(StatementEntry.objects.values_list("amount", flat=True), Decimal(0))) == sum(
        (e.amount for _, entries in collected for e in entries), Decimal(0))
    assert (len(collected), total, result.entries_created) == EXPECTED[path.name]
