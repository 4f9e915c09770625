"""MT940/MT942: samples from many banks, :86: dialects, reversals, returns, malformed input."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from apps.statements.parsers import DEBIT, EntriesNotConsumed, ParseError, collect, parse


def _collect(path, **kw):
    with path.open("rb") as f:
        return collect(f, **kw)


# (file, statements, entries, first statement: account, currency, opening, closing, credits, debits)
# Counts are grep counts of :20: and :61:; balances and totals summed from the :61: lines by hand.
MT940_EXPECTED = [
    ("mt940_ing_oca.940", 1, 8, "NL77INGB0574908765EUR", "EUR", "662.23", "564.35", "36.58", "134.46"),
    ("mt940_bunq_fruitl00p.txt", 1, 111, "NL10BUNQ2290325473 EUR", "EUR", "32.33", "5.66", "761.66", "788.33"),
    ("mt940_penta_fruitl00p.txt", 1, 30, "11010100/2324817618", "EUR", "20419.66", "9843.36", "121.38", "10697.68"),
    ("mt940_cmxl_multi.sta", 3, 16, "45050050/76198810", "DEM", "84349.74", "84437.04", "49396.74", "49309.44"),
    (
        "mt940_sepa_multi_betterplace.sta", 26, 97, "50880050/0194774600888", "EUR",
        "-1234718.36", "-1237628.23", "997241.96", "1000151.83",
    ),
    ("mt940_rabo_fruitl00p_multi.txt", 39, 39, "0800003200000001610722 EUR", "EUR", "0.00", "2145.00", "0", "0"),
    ("mt940_asnbank_wolph.txt", 31, 8, "NL81ASNB9999999999", "EUR", "444.29", "379.29", "0", "65.00"),
    ("mt940_spk_fruitl00p.txt", 4, 10, "20090500/0006853030", "EUR", "1818.90", "2330.90", "512", "0"),
    ("mt940_abn_fruitl00p_issue48.txt", 1, 2, "534334164", "EUR", "1124.58", "1171.6", "109.65", "62.63"),
    ("mt940_kontist_fruitl00p.txt", 1, 6, "DE85110101002482488293", "EUR", "0.15", "395.91", "515.95", "120.19"),
    ("mt940_zetb_fruitl00p.txt", 1, 8, "1014365930", "NGN", "6213.05", "2469.14", "220000.00", "223743.91"),
    ("mt940_citi_wolph.txt", 1, 5, "123456789", "USD", "17376.67", "16233.92", "0.00", "1142.75"),
    ("mt940_kbs_fruitl00p.txt", 1, 3, "300000002778989", "MKD", "35122", "36992", "2250", "380"),
    ("mt940_sns_wolph-jejik.sta", 2, 2, "0123456789", "EUR", "1234.56", "1209.56", "0", "25.00"),
    ("mt940_hbci4java_001.sta", 1, 2, "12345678/1234567890", "EUR", "100.00", "103.00", "3.00", "0"),
    ("mt940_postfinance_wolph-jejik.sta", 2, 4, "123456789", "CHF", "0", "229.2", "229.2", "0"),
    ("mt940_raiffeisen_hu_wolph.sta", 1, 7, "UBRTHUHB/123456789150ABCDEF002/HUF", "HUF", "25170637.10", "25281687.60", "2066637.00", "3078850.50"),
    ("mt940_triodos_wolph-jejik.sta", 1, 2, "TRIODOSBANK/0390123456", "EUR", "4975.09", "4370.79", "0", "715.70"),
    ("mt940_rabobank_wolph-jejik.sta", 4, 5, "1291.99.348EUR", "EUR", "473.17", "395.82", "0", "1213.28"),
    ("mt940_mbank_wolph.sta", 1, 3, "PL29114010810000267002001002", "PLN", "0.40", "0.43", "0.03", "0"),
]  # fmt: skip


@pytest.mark.parametrize("row", MT940_EXPECTED, ids=[r[0] for r in MT940_EXPECTED])
def test_mt940_samples(sample, row):
    name, n_statements, n_entries, account, currency, opening, closing, credits, debits = row
    result = _collect(sample(f"mt940/{name}"))
    assert len(result) == n_statements
    assert sum(len(entries) for _, entries in result) == n_entries
    assert sum(st.entry_count for st, _ in result) == n_entries
    st = result[0][0]
    assert (st.account, st.currency, st.format, st.kind) == (account, currency, "mt940", "end_of_day")
    assert st.opening_booked == Decimal(opening)
    assert st.closing_booked == Decimal(closing)
    assert (st.total_credits, st.total_debits) == (Decimal(credits), Decimal(debits))


def test_every_mt940_sample_parses(sample):
    root = sample("mt940/mt940_ing_oca.940").parent
    for path in sorted(root.glob("*")):
        if path.name == "mt940_sparkasse_fragment_wolph.sta":
            continue
        assert _collect(path), path.name


def test_sparkasse_fragment_without_header_is_an_error_with_line(sample):
    # the fragment starts with :61: - there is no :20:/:25:/:60F: to attach it to
    with pytest.raises(ParseError, match=r":61: found outside a statement") as err:
        _collect(sample("mt940/mt940_sparkasse_fragment_wolph.sta"))
    assert err.value.location == "line 1"


def test_mt942_interim_report(sample):
    [(st, entries)] = _collect(sample("mt942/mt942_mbank_wolph.sta"))
    assert (st.format, st.kind, st.currency) == ("mt942", "intraday", "PLN")
    assert st.opening_booked is None
    assert st.created_at.isoformat() == "2017-01-19T18:15:00+01:00"
    assert [e.amount for e in entries] == [Decimal("0.01")] * 3
    assert st.entries.trailer["reported_credits_count"] == 3
    assert st.entries.trailer["reported_credits"] == Decimal("0.03")


def test_mt940_reversal_mark_rc_is_a_debit(sample):
    [(st, [entry])] = _collect(sample("mt940/mt940_sparkasse_reversal_jejik.txt"))
    assert entry.is_reversal and entry.direction == DEBIT
    assert entry.amount == Decimal("-1027.25")
    assert entry.booking_date == date(2020, 2, 19) and entry.value_date == date(2020, 2, 1)
    assert entry.bank_tx_code.code == "GVC:899"
    assert entry.additional_info.startswith("STORNO")


def test_ing_return_with_rtrn_reason(sample):
    [(st, entries)] = _collect(sample("mt940/mt940_ing_oca.940"))
    ret = entries[2]
    assert ret.raw_type_code == "NRTI"
    assert ret.is_return and ret.return_reason == "MS03"
    assert ret.end_to_end_id == ret.original_end_to_end_id == "20120123456789"
    assert (ret.counterparty_name, ret.counterparty_account, ret.counterparty_bic) == (
        "J.Janssen",
        "NL32INGB0000012345",
        "INGBNL2A",
    )
    assert ret.remittance_text == "Factuurnr 123456 Klantnr 00123"
    assert entries[0].bank_reference == "00000000001005"  # reference wrapped onto the next line
    assert entries[3].mandate_id == "MND-EV01"  # a "-" line inside :86: is text, not a terminator
    assert entries[6].structured_reference == "9001123412341234"


def test_german_gvc_return_retoure(sample):
    result = _collect(sample("mt940/mt940_sepa_multi_betterplace.sta"))
    first = result[0][1][0]
    assert first.bank_tx_code.raw == "159" and first.bank_tx_code.is_return
    assert first.is_return and first.return_reason == "914"
    reversal = result[0][1][5]
    assert reversal.is_reversal and reversal.amount == Decimal("-204.88")


MT940_ING = """{1:F01INGBNL2ABXXX0000000000}{2:I940INGBNL2AXXXN}{4:
:20:P140220000000001
:25:NL77INGB0574908765EUR
:28C:00000
:60F:C141230EUR1000,00
:61:1412310102D250,50NTRFEREF//00000000001005
/TRCD/00100/
:86:/EREF/E2E-77//CNTP/NL32INGB0000012345/INGBNL2A/ACME BV/AMSTERDAM/
//REMI/USTD//Invoice 2014-
99/
:61:1501020102C12,NTRFNONREF
:86:/TRTP/SEPA OVERBOEKING/IBAN/NL75INGB0001234567/BIC/INGBNL2A/NAME/
J DOE/REMI/RES.NR 42/EREF/NOTPROVIDED
:62F:C150102EUR761,50
-}"""

MT940_GERMAN = """:20:STARTUMS
:25:10020030/1234567
:28C:5/1
:60F:D240101EUR100,00
:61:2401020102CR50,00NTRFNONREF//B1
:86:166?00GUTSCHRIFT?109310?20EREF+E2E-9?21SVWZ+Rechnung 4711 v?22om 01.01.?30COBADEFFXXX?31DE8937
0400440532013000?32Max Muster?33mann
:61:2401030103D30,00NDDTNONREF
:86:109?00RUECKLASTSCHRIFT?20EREF+X1?21SVWZ+Beitrag?34901
:62F:D240103EUR80,00
"""


def test_ing_structured_86_and_year_crossing_entry_date():
    [(st, [debit, credit])] = collect(io.BytesIO(MT940_ING.encode()))
    assert debit.value_date == date(2014, 12, 31)
    assert debit.booking_date == date(2015, 1, 2)  # entry date 0102 belongs to the next year
    assert debit.end_to_end_id == "E2E-77"
    assert (debit.counterparty_account, debit.counterparty_bic, debit.counterparty_name) == (
        "NL32INGB0000012345",
        "INGBNL2A",
        "ACME BV",
    )
    assert debit.remittance_text == "Invoice 2014-99"
    assert credit.amount == Decimal("12") and credit.counterparty_name == "J DOE"
    assert credit.remittance_text == "RES.NR 42" and credit.end_to_end_id is None
    assert credit.additional_info == "SEPA OVERBOEKING"
    assert st.closing_booked == Decimal("761.50") and st.reconciles() is True
    assert st.closing_date == date(2015, 1, 2)


def test_german_subfields_gvc_and_sepa_keywords():
    [(st, [credit, ret])] = collect(io.BytesIO(MT940_GERMAN.encode("cp1252")))
    assert st.opening_booked == Decimal("-100.00") and st.closing_booked == Decimal("-80.00")
    assert credit.bank_tx_code.code == "PMNT/RCDT/ESCT" and credit.bank_tx_code.raw == "166"
    assert credit.end_to_end_id == "E2E-9"
    assert credit.remittance_text == "Rechnung 4711 vom 01.01."
    assert credit.counterparty_name == "Max Mustermann"
    assert credit.counterparty_bic == "COBADEFFXXX"
    assert credit.counterparty_account == "DE89370400440532013000"
    assert credit.bank_reference == "B1" and credit.additional_info == "GUTSCHRIFT"
    assert ret.is_return and ret.return_reason == "901" and ret.bank_tx_code.description == "SEPA Ruecklastschrift"
    assert st.reconciles() is True


def test_closing_balance_only_after_entries():
    st = next(parse(io.BytesIO(MT940_GERMAN.encode())))
    assert st.opening_booked == Decimal("-100.00")
    with pytest.raises(EntriesNotConsumed):
        _ = st.closing_booked
    list(st.entries)
    assert st.closing_booked == Decimal("-80.00")


def test_malformed_61_reports_line_number():
    bad = MT940_GERMAN.replace(":61:2401030103D30,00NDDTNONREF", ":61:24010X0103D30,00NDDTNONREF")
    with pytest.raises(ParseError, match=r":61: statement line") as err:
        collect(io.BytesIO(bad.encode()))
    assert err.value.location == "line 8"


def test_malformed_balance_reports_line_number():
    bad = MT940_GERMAN.replace(":62F:D240103EUR80,00", ":62F:D240103EUR8O,00")
    with pytest.raises(ParseError, match=r":62F: balance") as err:
        collect(io.BytesIO(bad.encode()))
    assert err.value.location == "line 10"


def test_missing_opening_balance_is_an_error():
    bad = MT940_GERMAN.replace(":60F:D240101EUR100,00\n", "")
    with pytest.raises(ParseError, match=":60F: opening balance missing") as err:
        collect(io.BytesIO(bad.encode()))
    assert err.value.location == "line 1"


def test_crlf_and_missing_terminators():
    text = MT940_GERMAN.replace("\n", "\r\n") + MT940_GERMAN.replace("STARTUMS", "SECOND")
    result = collect(io.BytesIO(text.encode()))
    assert [st.statement_id for st, _ in result] == ["STARTUMS", "SECOND"]
    assert [len(e) for _, e in result] == [2, 2]
