"""BAI2: samples, continuation records, minor units, type-code direction, malformed input."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from apps.statements.parsers import CREDIT, DEBIT, ParseError, collect


def _collect(path):
    with path.open("rb") as f:
        return collect(f)


# (file, accounts (03 records, counted also after "/ " on a line), 16 records) - counted by hand
BAI_COUNTS = [
    ("bai2_citi_moj.bai2", 1, 1),
    ("bai2_moov_sample2.bai2", 5, 4),
    ("bai2_moov_sample3.bai2", 15, 26),
    ("bai2_moov_sample4-continuations-newline-delimited.bai2", 5, 17),
    ("bai2_moov_sample5-issue113.bai2", 5, 20),
    ("bai2_trailer_amount_blank_moj.bai2", 2, 0),
]


@pytest.mark.parametrize(("name", "accounts", "details"), BAI_COUNTS, ids=[c[0] for c in BAI_COUNTS])
def test_bai2_sample_counts(sample, name, accounts, details):
    result = _collect(sample(f"bai2/{name}"))
    assert len(result) == accounts
    assert sum(st.entry_count for st, _ in result) == details


def test_bai2_citi_gbp(sample):
    [(st, [entry])] = _collect(sample("bai2/bai2_citi_moj.bai2"))
    assert (st.account, st.currency, st.format, st.kind) == ("77777777", "GBP", "bai2", "end_of_day")
    assert st.opening_booked == Decimal("100.00") and st.closing_booked == Decimal("100.00")
    assert st.period_from == date(2015, 7, 15)
    assert entry.amount == Decimal("0.01") and entry.direction == CREDIT  # "001" minor units, type 191
    assert entry.value_date == date(2015, 7, 15)  # funds type V
    assert entry.bank_reference == "1234567890" and entry.customer_reference == "RP12312312312312"
    assert "BO:11111111 BO1:DOE JO" in entry.additional_info


def test_bai2_sample3_multiple_records_per_line_and_balances(sample):
    result = _collect(sample("bai2/bai2_moov_sample3.bai2"))
    st, entries = result[0]
    assert st.account == "1111111" and st.currency == "USD"
    assert st.opening_booked == Decimal("-35.00") and st.closing_booked == Decimal("-36.00")
    assert st.opening_available == Decimal("-35.00")
    assert st.total_credits == Decimal("31.00") and st.total_debits == Decimal("32.00")
    assert st.reconciles() is True
    assert [e.raw_type_code for e in entries] == ["142", "142", "142", "451", "451", "451"]
    assert entries[3].direction == DEBIT and entries[3].amount == Decimal("-25.00")
    # a 16 text wrapped onto the next physical line without 88
    wrapped = result[7][1][0]
    assert wrapped.additional_info.startswith("111111     ACH_SETL           1111111111 111111111111111")


def test_bai2_newline_delimited_continuations_and_returns(sample):
    result = _collect(sample("bai2/bai2_moov_sample4-continuations-newline-delimited.bai2"))
    st, entries = result[2]
    assert st.account == "104108339"
    assert st.opening_booked == Decimal("1595811.94") and st.closing_booked == Decimal("1593811.94")
    assert (st.opening_available, st.closing_available) == (Decimal("1585688.97"), Decimal("1583688.97"))
    ret = entries[0]
    assert ret.raw_type_code == "557" and ret.is_return and ret.bank_tx_code.description == "Individual ACH Return Item"
    assert ret.end_to_end_id == "021000080000030"
    first = result[1][1][0]
    assert first.end_to_end_id == "1111" and first.direction == DEBIT  # 447 is a debit code


def test_bai2_deliberately_malformed_file(sample):
    with pytest.raises(ParseError, match="does not start with a BAI2 record code") as err:
        _collect(sample("bai2/bai2_moov_invalid_parse_error.bai2"))
    assert err.value.location == "line 1"


BAI_INLINE = """01,BANKX,CUST,240105,2400,7,80,,2/
02,CUST,BANKX,1,240104,2400,,2/
03,998877,JPY,010,150000,,,015,149000,,/
16,475,1000,0,CHK42,,CHECK PAID/
16,195,500,V,240104,1200,WIRE1,CUST9,INCOMING WIRE FROM/
88,ACME TRADING CO
16,555,500,Z,RET1,,DEPOSITED ITEM RETURNED/
49,300000,5/
03,112233,,010,-12345,,,040,+500,,/
88,015,-11000,,/
16,165,1345,S,1000,345,0,ACH1,,PREAUTH CREDIT/
49,-20000,4/
98,280000,2,11/
99,280000,1,13/
"""


def test_bai2_inline_minor_units_continuation_and_funds_types():
    [(jpy, jpy_entries), (usd, usd_entries)] = collect(io.BytesIO(BAI_INLINE.encode()))
    assert jpy.currency == "JPY" and jpy.opening_booked == Decimal("150000")  # JPY has no minor unit
    assert jpy.created_at.isoformat() == "2024-01-05T23:59:59"  # 2400 = end of day
    assert [e.amount for e in jpy_entries] == [Decimal("-1000"), Decimal("500"), Decimal("-500")]
    assert jpy_entries[1].additional_info == "INCOMING WIRE FROM ACME TRADING CO"
    assert jpy_entries[1].value_date == date(2024, 1, 4)
    assert jpy_entries[2].is_return and jpy_entries[2].bank_tx_code.code == "BAI:555"
    assert jpy.total_credits - jpy.total_debits == Decimal("-1000")
    assert jpy.closing_booked == Decimal("149000") and jpy.reconciles() is True
    assert usd.currency == "USD"  # group default
    assert usd.opening_booked == Decimal("-123.45") and usd.closing_booked == Decimal("-110.00")
    assert usd_entries[0].amount == Decimal("13.45") and usd_entries[0].bank_reference == "ACH1"
    assert usd.reconciles() is True


def test_bai2_bad_amount_names_line():
    bad = BAI_INLINE.replace("16,555,500,Z", "16,555,5.00,Z")
    with pytest.raises(ParseError, match="not a whole number of minor units") as err:
        collect(io.BytesIO(bad.encode()))
    assert err.value.location == "line 7"


def test_bai2_record_outside_account_section():
    bad = BAI_INLINE.replace("03,998877,JPY,010,150000,,,015,149000,,/\n", "")
    with pytest.raises(ParseError, match="outside an account section") as err:
        collect(io.BytesIO(bad.encode()))
    assert err.value.location == "line 3"
