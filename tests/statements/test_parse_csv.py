"""CSV statements through an explicit mapping."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from apps.statements.parsers import CsvMapping, ParseError, collect, parse

PAYPAL_STATEMENT = CsvMapping(
    date="Date",
    date_format="%m/%d/%Y",
    amount="Net",
    currency="Currency",
    balance="Balance",
    description="Description",
    counterparty_name="Name",
    reference="Transaction ID",
    thousands_separator=",",
    account="paypal@my-company.com",
)


def test_paypal_statement_one_statement_per_currency(sample):
    with sample("csv/csv_paypal_statement_en_oca.csv").open("rb") as f:
        result = collect(f, format="csv", csv_mapping=PAYPAL_STATEMENT)
    summary = [
        (st.currency, st.entry_count, st.total_credits, st.total_debits, st.opening_booked, st.closing_booked)
        for st, _ in result
    ]
    assert summary == [
        ("EUR", 8, Decimal("17346.31"), Decimal("17346.31"), Decimal("0.75"), Decimal("0.75")),
        ("USD", 11, Decimal("21194.30"), Decimal("20914.00"), Decimal("0.89"), Decimal("281.19")),
    ]
    assert all(st.reconciles() for st, _ in result)
    first = result[0][1][0]
    assert first.amount == Decimal("-1058.09") and first.booking_date == date(2018, 9, 4)
    assert first.bank_reference == "TID1" and first.source_line == 2


def test_adyen_settlement_separate_debit_credit_columns(sample):
    mapping = CsvMapping(
        date="Creation Date",
        date_format="%Y-%m-%d %H:%M:%S",
        debit="Net Debit (NC)",
        credit="Net Credit (NC)",
        currency="Net Currency",
        description=("Type", "Merchant Reference"),
        reference="Psp Reference",
    )
    with sample("csv/csv_adyen_settlement_380_oca.csv").open("rb") as f:
        [(st, entries)] = collect(f, csv_mapping=mapping)
    assert st.currency == "USD" and st.entry_count == 228
    assert st.total_credits == Decimal("56438.52") and st.total_debits == Decimal("56438.52")
    assert entries[-1].amount == Decimal("-55308.07") and entries[-1].remittance_text == "MerchantPayout"


def test_paypal_activity_three_currencies(sample):
    mapping = CsvMapping(
        date="Date", date_format="%d/%m/%Y", amount="Net", currency="Currency", thousands_separator=","
    )
    with sample("csv/csv_paypal_activity_en_oca.csv").open("rb") as f:
        result = collect(f, csv_mapping=mapping)
    assert [(st.currency, st.entry_count) for st, _ in result] == [("USD", 45), ("EUR", 29), ("AUD", 2)]


def test_generic_sample(sample):
    mapping = CsvMapping(
        date="Date", date_format="%m/%d/%Y", amount="Amount", currency="Currency", thousands_separator=",",
        description="Label", counterparty_name="Partner Name", counterparty_account="Bank Account",
    )  # fmt: skip
    with sample("csv/csv_generic_sample_statement_oca.csv").open("rb") as f:
        result = collect(f, csv_mapping=mapping)
    assert [(st.currency, [e.amount for e in es]) for st, es in result] == [
        ("USD", [Decimal("-33.50")]),
        ("EUR", [Decimal("1525.00")]),
    ]
    assert result[0][1][0].counterparty_account == "123456789"


DUTCH = """Rekeningoverzicht
Periode: januari 2024
Datum;Omschrijving;Af;Bij;Saldo
02-01-2024;Huur januari;1.250,00;;8.750,00
03-01-2024;Factuur 17;;2.100,55;10.850,55
04-01-2024;"Kosten; pakket";7,5;;10.843,05
"""


def test_csv_comma_decimals_separate_columns_skip_rows():
    mapping = CsvMapping(
        date="Datum", date_format="%d-%m-%Y", debit="Af", credit="Bij", balance="Saldo",
        description="Omschrijving", fixed_currency="EUR", delimiter=";", skip_rows=2,
        decimal_separator=",", thousands_separator=".", account="NL91ABNA0417164300",
    )  # fmt: skip
    [(st, entries)] = collect(io.BytesIO(DUTCH.encode("cp1252")), csv_mapping=mapping)
    assert [e.amount for e in entries] == [Decimal("-1250.00"), Decimal("2100.55"), Decimal("-7.5")]
    assert entries[2].remittance_text == "Kosten; pakket"
    assert st.opening_booked == Decimal("10000.00") and st.closing_booked == Decimal("10843.05")
    assert st.reconciles() is True and st.account == "NL91ABNA0417164300"
    assert [e.source_line for e in entries] == [4, 5, 6]


def test_csv_indicator_column_and_no_header():
    text = "20240105,100.00,D,Rent\n20240106,25.10,C,Refund\n"
    mapping = CsvMapping(
        date=0, date_format="%Y%m%d", amount=1, indicator=2, sign="indicator", description=3,
        fixed_currency="USD", has_header=False,
    )  # fmt: skip
    [(st, entries)] = collect(io.BytesIO(text.encode()), csv_mapping=mapping)
    assert [e.amount for e in entries] == [Decimal("-100.00"), Decimal("25.10")]


def test_csv_bad_number_reports_line():
    mapping = CsvMapping(
        date="Datum", date_format="%d-%m-%Y", debit="Af", credit="Bij", fixed_currency="EUR", delimiter=";",
        skip_rows=2, decimal_separator=",", thousands_separator=".",
    )  # fmt: skip
    bad = DUTCH.replace("2.100,55", "2.100,5x")
    with pytest.raises(ParseError, match=r"credit '2.100,5x' in column 'Bij' is not a number") as err:
        collect(io.BytesIO(bad.encode()), csv_mapping=mapping)
    assert err.value.location == "line 5"


def test_csv_needs_a_mapping_and_named_columns():
    with pytest.raises(ParseError, match="need a CsvMapping"):
        list(parse(io.BytesIO(b"a,b,c\n1,2,3\n")))
    mapping = CsvMapping(date="When", amount="Amount", fixed_currency="EUR")
    with pytest.raises(ParseError, match=r"header has no column\(s\) \['When'\]") as err:
        collect(io.BytesIO(b"Date,Amount\n2024-01-01,1\n"), csv_mapping=mapping)
    assert err.value.location == "line 1"
    with pytest.raises(ParseError, match="currency"):
        collect(io.BytesIO(b"Date,Amount\n"), csv_mapping=CsvMapping(date="Date", amount="Amount"))
