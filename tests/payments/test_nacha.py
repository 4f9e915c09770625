"""NACHA (ACH) credit files: exact layout of what we build, and validate() catching structural corruption with the
line number. Pure Python: no database."""

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from apps.core.errors import ValidationFailed
from apps.payments import nacha
from apps.payments.pain001 import Debtor, Transfer

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "nacha"

DEBTOR = Debtor(name="Acme US Inc", iban="", account_number="000123456789", bic="", currency="USD")


def transfer(**overrides) -> Transfer:
    values = dict(end_to_end_id="E2E-1", amount=Decimal("1250.00"), currency="USD",
                  creditor_name="Société Générale Café Ærø", creditor_iban="", creditor_account_number="44-5566",
                  creditor_routing="021000021", creditor_bic="", creditor_address={},
                  remittance_information="Facture n° 12 – Café", purpose="")
    values.update(overrides)
    return Transfer(**values)


TRANSFERS = [
    transfer(),
    transfer(end_to_end_id="E2E-2-VERY-LONG-REFERENCE-0001", amount=Decimal("80.50"), creditor_name="Best Builders",
             creditor_account_number="12345678901234567", creditor_routing="026009593", remittance_information=""),
    transfer(end_to_end_id="E2E-3", amount=Decimal("12345.67"), creditor_name="Wade Arnold LLC",
             creditor_account_number="987654", creditor_routing="121042882", remittance_information=""),
]


def build(transfers=None, **overrides) -> bytes:
    kwargs = dict(immediate_destination="231380104", immediate_origin="1234567890",
                  destination_name="Citadel Bank", origin_name="Acme US Inc", company_name="Acme US Inc",
                  company_id="1234567890", entry_description="Vendor Pay", effective_date=date(2025, 3, 17),
                  created_at=datetime(2025, 3, 14, 9, 5), debtor=DEBTOR,
                  transfers=TRANSFERS if transfers is None else transfers)
    kwargs.update(overrides)
    return nacha.build(**kwargs)


def lines_of(content: bytes) -> list[str]:
    text = content.decode("ascii")
    assert text.endswith("\n")
    return text[:-1].split("\n")


def join(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("ascii")


def fails_at(content: bytes, line: int, field: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        nacha.validate(content)
    exc = caught.value
    assert exc.extra["line"] == line, exc.message
    assert field in exc.extra["field"], exc.message
    assert f"line {line}: " in exc.message and "expected" in exc.message and "found" in exc.message
    return exc


# ------------------------------------------------------------------------------------------------------ build

def test_three_entry_file_has_the_exact_layout():
    lines = lines_of(build())
    assert len(lines) == 10
    assert all(len(line) == 94 and line.isascii() and line == line.upper() for line in lines)
    assert lines[0] == ("101" + " 231380104" + "1234567890" + "2503140905" + "A" + "094" + "10" + "1"
                        + "CITADEL BANK           " + "ACME US INC            " + "        ")
    assert lines[1] == ("5220" + "ACME US INC     " + " " * 20 + "1234567890" + "CCD" + "VENDOR PAY" + " " * 6
                        + "250317" + "   " + "1" + "23138010" + "0000001")
    assert lines[2] == ("6" + "22" + "021000021" + "44-5566          " + "0000125000" + "E2E-1          "
                        + "SOCIETE GENERALE CAFE " + "  " + "1" + "231380100000001")
    assert lines[3] == ("7" + "05" + "FACTURE N  12 - CAFE".ljust(80) + "0001" + "0000001")
    assert lines[4] == ("6" + "22" + "026009593" + "12345678901234567" + "0000008050" + "E2E-2-VERY-LONG"
                        + "BEST BUILDERS         " + "  " + "0" + "231380100000002")
    assert lines[5] == ("6" + "22" + "121042882" + "987654           " + "0001234567" + "E2E-3          "
                        + "WADE ARNOLD LLC       " + "  " + "0" + "231380100000003")
    # entry hash: 02100002 + 02600959 + 12104288 = 16805249; credits 1250.00 + 80.50 + 12345.67 = 13676.17
    assert lines[6] == ("8" + "220" + "000004" + "0016805249" + "000000000000" + "000001367617" + "1234567890"
                        + " " * 19 + " " * 6 + "23138010" + "0000001")
    assert lines[7] == ("9" + "000001" + "000001" + "00000004" + "0016805249" + "000000000000" + "000001367617"
                        + " " * 39)
    assert lines[8:] == ["9" * 94] * 2
    nacha.validate(build())


def test_ppd_and_block_count_over_several_blocks():
    many = [transfer(end_to_end_id=f"E2E-{i}", amount=Decimal("1.01")) for i in range(9)]  # 9 entries + 9 addenda
    content = build(many, sec_code="PPD", file_id_modifier="b")
    lines = lines_of(content)
    assert len(lines) == 30  # 1 + 1 + 18 + 1 + 1 = 22 records, padded to 30
    assert lines[1][50:53] == "PPD" and lines[0][33] == "B"
    assert lines[21][7:13] == "000003" and lines[21][13:21] == "00000018"
    assert lines[21][43:55] == "000000000909"
    assert lines[22:] == ["9" * 94] * 8
    assert lines[18][79:94] == "231380100000009" and lines[19][87:94] == "0000009"
    nacha.validate(content)


def test_exactly_full_blocks_need_no_padding():
    many = [transfer(end_to_end_id=f"E2E-{i}") for i in range(8)]  # 1 + 1 + 16 + 1 + 1 = 20 records
    lines = lines_of(build(many))
    assert len(lines) == 20 and lines[-1].startswith("9000001000002")
    nacha.validate(join(lines))


def test_largest_entry_is_accepted_and_one_cent_more_is_refused():
    nacha.validate(build([transfer(amount=Decimal("99999999.99"))]))
    with pytest.raises(ValidationFailed) as caught:
        build([transfer(), transfer(amount=Decimal("100000000.00"))])
    assert caught.value.extra == {"field": "amount", "index": 1}
    assert "instruction 1" in caught.value.message


@pytest.mark.parametrize("overrides, field", [
    ({"currency": "EUR"}, "currency"),
    ({"creditor_routing": ""}, "creditor_routing"),
    ({"creditor_routing": "02100002"}, "creditor_routing"),
    ({"creditor_routing": "021000022"}, "creditor_routing"),
    ({"creditor_account_number": ""}, "creditor_account_number"),
    ({"creditor_account_number": "123456789012345678"}, "creditor_account_number"),
    ({"amount": Decimal("0")}, "amount"),
    ({"amount": Decimal("1.005")}, "amount"),
    ({"creditor_name": "  "}, "creditor_name"),
])
def test_instructions_the_format_cannot_carry_are_refused_naming_index_and_field(overrides, field):
    with pytest.raises(ValidationFailed) as caught:
        build([transfer(), transfer(), transfer(**overrides)])
    assert caught.value.extra == {"field": field, "index": 2}
    assert "instruction 2" in caught.value.message and field in caught.value.message


def test_bad_routing_message_says_expected_check_digit():
    with pytest.raises(ValidationFailed) as caught:
        build([transfer(creditor_routing="021000022")])
    assert "expected 1" in caught.value.message and "found 2" in caught.value.message


@pytest.mark.parametrize("overrides, field", [
    ({"immediate_destination": "231380105"}, "immediate_destination"),
    ({"company_id": "12345"}, "company_id"),
    ({"immediate_origin": "12345"}, "immediate_origin"),
    ({"entry_description": "VENDOR PAYMENTS"}, "entry_description"),
    ({"sec_code": "WEB"}, "sec_code"),
    ({"file_id_modifier": "AB"}, "file_id_modifier"),
    ({"debtor": replace(DEBTOR, currency="EUR")}, "debtor.currency"),
    ({"transfers": []}, "transfers"),
])
def test_file_level_parameters_are_checked(overrides, field):
    with pytest.raises(ValidationFailed) as caught:
        build(**overrides)
    assert caught.value.extra["field"] == field


def test_nine_digit_origin_gets_a_leading_blank():
    assert lines_of(build(immediate_origin="231380104"))[0][13:23] == " 231380104"


# ------------------------------------------------------------------------------------------------------ validate

def corrupt(line: int, start: int, new: str) -> bytes:
    """The built file with 1-based positions start.. of 1-based ``line`` replaced by ``new`` (same length)."""
    lines = lines_of(build())
    record = lines[line - 1]
    lines[line - 1] = record[:start - 1] + new + record[start - 1 + len(new):]
    return join(lines)


def test_wrong_batch_entry_hash():
    exc = fails_at(corrupt(7, 11, "0016805250"), 7, "entry hash")
    assert "expected 0016805249, found 0016805250" in exc.message


def test_wrong_file_entry_hash():
    fails_at(corrupt(8, 22, "0000000001"), 8, "entry hash")


def test_wrong_batch_total():
    exc = fails_at(corrupt(7, 33, "000001367618"), 7, "total credit")
    assert "expected 1367617, found 1367618" in exc.message


def test_wrong_entry_amount_breaks_the_batch_total():
    fails_at(corrupt(5, 30, "0000008051"), 7, "total credit")


def test_wrong_counts():
    fails_at(corrupt(7, 5, "000003"), 7, "entry/addenda count")
    fails_at(corrupt(8, 2, "000002"), 8, "batch count")
    fails_at(corrupt(8, 8, "000002"), 8, "block count")


def test_short_line():
    lines = lines_of(build())
    lines[4] = lines[4][:93]
    exc = fails_at(join(lines), 5, "record length")
    assert "expected 94 characters, found 93 characters" in exc.message


def test_bad_routing_check_digit():
    exc = fails_at(corrupt(5, 12, "4"), 5, "check digit")
    assert "expected 3" in exc.message and "found 4" in exc.message


def test_missing_padding():
    lines = lines_of(build())[:8]
    exc = fails_at(join(lines), 9, "padding")
    assert "2 more padding record" in exc.message


def test_padding_must_be_all_nines():
    fails_at(corrupt(10, 50, "0"), 10, "padding")


def test_unknown_record_type():
    exc = fails_at(corrupt(5, 1, "4"), 5, "record type")
    assert "'4'" in exc.message


def test_record_out_of_place():
    lines = lines_of(build())
    lines[3], lines[4] = lines[4], lines[3]  # the addenda now follows an entry whose indicator is 0
    exc = fails_at(join(lines), 3, "addenda record indicator")  # the entry on line 3 lost its addenda
    assert any(e["line"] == 5 and "record type" in e["field"] for e in exc.extra["errors"])


def test_debit_in_a_credits_only_batch():
    fails_at(corrupt(6, 2, "27"), 6, "transaction code")


def test_addenda_indicator_without_addenda():
    fails_at(corrupt(5, 79, "1"), 5, "addenda record indicator")


def test_non_ascii_is_refused():
    content = build().replace(b"VENDOR PAY", "VENDÖR PAY".encode("utf-8"), 1)
    fails_at(content, 2, "characters")


def test_crlf_and_missing_final_newline_are_accepted():
    content = build()
    nacha.validate(content.replace(b"\n", b"\r\n"))
    nacha.validate(content[:-1])


# ------------------------------------------------------------------------------------------------------ real files

VALID_SAMPLES = [
    "nacha_NACHA_SAMPLE_TEL_REVERSAL_moov.ach",  # service class 200, mixed 22/27
    "nacha_ccd-debit_moov.ach",  # 225, debits
    "nacha_cor-example_moov.ach",  # 220, COR with a type 98 addenda
    "nacha_ctx-debit_moov.ach",  # 225, CTX with two 05 addenda
    "nacha_iat-credit_moov.ach",  # 220, IAT with 10-18 addenda
    "nacha_ppd-debit_moov.ach",
    "nacha_web-credit_moov.ach",
]
INVALID_SAMPLES = {
    "nacha_20110729A-invalid_moov.ach": (1, "record length"),  # the file header is 93 characters
    # file control says 5 batches (there are 4) and the file is not padded to a multiple of 10 lines
    "nacha_20110805A_moov.ach": (93, "batch count"),
    # the file control record is cut to 55 characters (and its 220 batch carries a debit, code 27)
    "nacha_20180713-IAT_moov.ach": (22, "record length"),
}


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"NACHA sample {path} is not available on this machine")
    return path.read_bytes()


@pytest.mark.parametrize("name", VALID_SAMPLES)
def test_valid_real_samples_are_accepted(name):
    nacha.validate(sample(name))


@pytest.mark.parametrize("name", sorted(INVALID_SAMPLES))
def test_invalid_real_samples_are_rejected_with_a_line_number(name):
    line, field = INVALID_SAMPLES[name]
    fails_at(sample(name), line, field)


def test_every_sample_is_classified():
    if not SAMPLES.is_dir():
        pytest.skip(f"NACHA samples directory {SAMPLES} is not available on this machine")
    assert {p.name for p in SAMPLES.glob("*.ach")} <= set(VALID_SAMPLES) | set(INVALID_SAMPLES)
