"""Options and helpers added for parsing speed: ``keep_raw`` and the fast entry constructor."""

from __future__ import annotations

import dataclasses
import io
from decimal import Decimal

import pytest

from apps.statements.parsers import Charge, CsvMapping, ParsedEntry, TransactionDetail, collect
from apps.statements.parsers.model import new_charge, new_entry, new_transaction

CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"><BkToCstmrStmt>
 <GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-01-02T10:00:00</CreDtTm></GrpHdr>
 <Stmt><Id>S1</Id><Acct><Id><IBAN>NL02ABNA0123456789</IBAN></Id><Ccy>EUR</Ccy></Acct>
  <Ntry><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><RvslInd>true</RvslInd><Sts>BOOK</Sts>
   <BookgDt><Dt>2024-01-01</Dt></BookgDt><AcctSvcrRef>R1</AcctSvcrRef>
   <NtryDtls><TxDtls><Refs><EndToEndId>E2E-1</EndToEndId></Refs>
    <RltdPties><Dbtr><Nm>Payer Ltd</Nm></Dbtr></RltdPties><RmtInf><Ustrd>Invoice 1</Ustrd></RmtInf>
   </TxDtls></NtryDtls></Ntry>
  <Ntry><Amt Ccy="EUR">2.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2024-01-01</Dt></BookgDt></Ntry>
 </Stmt>
</BkToCstmrStmt></Document>
"""
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


def _entries(path_or_bytes, **kwargs):
    f = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes.open("rb")
    with f:
        return [e for _, entries in collect(f, **kwargs) for e in entries]


def test_camt_raw_only_with_keep_raw():
    xml = CAMT.encode()
    assert all(e.raw is None for e in _entries(xml))
    kept = _entries(xml, keep_raw=True)
    assert kept[0].raw.startswith("<Ntry") and kept[0].raw.rstrip().endswith("</Ntry>")
    assert "<RvslInd>true</RvslInd>" in kept[0].raw
    # everything else is the same with or without the raw copy
    assert [dataclasses.replace(e, raw=None) for e in kept] == _entries(xml)


@pytest.mark.parametrize(
    "relative, kwargs, starts",
    [
        ("mt940/mt940_abnamro_wolph-jejik.sta", {}, ":61:"),
        ("bai2/bai2_moov_sample2.bai2", {}, "16,"),
        ("csv/csv_paypal_statement_en_oca.csv", {"format": "csv", "csv_mapping": PAYPAL_STATEMENT}, ""),
    ],
)
def test_line_formats_raw_only_with_keep_raw(sample, relative, kwargs, starts):
    path = sample(relative)
    plain = _entries(path, **kwargs)
    kept = _entries(path, keep_raw=True, **kwargs)
    assert plain and all(e.raw is None for e in plain)
    assert all(e.raw and e.raw.startswith(starts) for e in kept)
    assert [dataclasses.replace(e, raw=None) for e in kept] == plain


@pytest.mark.parametrize(
    "make, cls, required",
    [
        (new_entry, ParsedEntry, {"amount": Decimal("1.50"), "currency": "EUR", "direction": "credit"}),
        (new_transaction, TransactionDetail, {"amount": None, "currency": None, "direction": None}),
        (new_charge, Charge, {"amount": Decimal("0.10"), "currency": "EUR"}),
    ],
)
def test_fast_constructors_build_the_same_frozen_dataclass(make, cls, required):
    fast = make(**required)
    slow = cls(**required)
    assert type(fast) is cls and fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.currency = "USD"
    assert dataclasses.replace(fast, currency="USD").currency == "USD"
    with pytest.raises(TypeError):
        make(**dict(list(required.items())[:-1]))  # a required field left out
    with pytest.raises(TypeError):
        make(no_such_field=1, **required)


def test_fast_entry_constructor_sets_every_field():
    values = {f.name: f"v{i}" for i, f in enumerate(dataclasses.fields(ParsedEntry))}
    assert new_entry(**values) == ParsedEntry(**values)


# --- MT940 lines read a block at a time ---------------------------------------------------------------------------

TRICKY_LINES = b"\xef\xbb\xbfa\r\nb\rc\n\xe9t\xe9\r\r\n\xc3\xa9\r\n\nlast\r"


@pytest.mark.parametrize("block_size", [1, 3, 7, 1 << 20])
def test_line_blocks_split_and_number_lines_exactly_as_iter_lines(monkeypatch, block_size):
    from apps.statements.parsers import _io

    monkeypatch.setattr(_io, "BLOCK_SIZE", block_size)
    lines = [(number, line) for number, block in _io.iter_line_blocks(io.BytesIO(TRICKY_LINES))
             for number, line in enumerate(block, number)]
    # BOM dropped, CRLF / LF / lone CR all end a line, a Latin-1 line falls back to cp1252 on its own
    assert lines == [(1, "a"), (2, "b"), (3, "c"), (4, "été"), (5, ""), (6, "é"), (7, ""), (8, "last")]
    assert list(_io.iter_lines(io.BytesIO(TRICKY_LINES))) == lines


@pytest.mark.parametrize("relative", ["mt940/mt940_ing_wolph-jejik.sta", "mt940/mt940_rabo_fruitl00p_multi.txt",
                                      "mt940/mt940_sepa_multi_betterplace.sta", "mt942/mt942_mbank_wolph.sta"])
def test_mt940_parse_does_not_depend_on_where_blocks_end(monkeypatch, sample, relative):
    from apps.statements.parsers import _io

    whole = _entries(sample(relative), keep_raw=True)
    monkeypatch.setattr(_io, "BLOCK_SIZE", 5)
    assert _entries(sample(relative), keep_raw=True) == whole


def test_mt940_tags_read_without_regex_match_the_regex():
    """Field tags are read with str operations; what they do not settle (non-ASCII digits) goes to the regex."""
    from apps.statements.parsers.mt940 import _FIELD, _fields

    lines = [":20:REF", ":60F:C240101EUR1,00", ":2:short", ":20a:lower", ":6OF:letter", ":٢٠:arabic-indic",
             ":61::colon", ":NS:x", "text"]
    fields = [(f.tag, f.lines, f.line) for f in _fields(iter([(1, lines)]))]
    expected = []
    for number, line in enumerate(lines, 1):
        m = _FIELD.match(line)
        if m:
            expected.append((m.group(1), [m.group(2)], number))
        elif expected:
            expected[-1][1].append(line)
    assert fields == expected
    assert [t for t, _, _ in fields] == ["20", "60F", "٢٠", "61"]
