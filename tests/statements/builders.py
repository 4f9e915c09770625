"""Small bank files written by the tests themselves (camt.053/052 and MT940), for exact dedupe and check cases."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass
class E:
    amount: str  # signed: "-12.50" is a debit
    day: str = "2026-11-02"
    ref: str | None = None  # AcctSvcrRef
    e2e: str | None = None
    text: str = ""
    status: str = "BOOK"
    code: tuple[str, str, str] = ("PMNT", "RCDT", "ESCT")
    return_reason: str | None = None
    batch: tuple[tuple[str, str], ...] = ()  # several TxDtls: (end-to-end id, amount)


def _entry_xml(n: int, e: E, currency: str) -> str:
    amount = Decimal(e.amount)
    booking = f"<BookgDt><Dt>{e.day}</Dt></BookgDt>" if e.status == "BOOK" else ""
    ref = f"<AcctSvcrRef>{e.ref}</AcctSvcrRef>" if e.ref else ""
    if e.batch:
        details = "".join(
            f'<TxDtls><Refs><EndToEndId>{b_e2e}</EndToEndId></Refs>'
            f'<AmtDtls><TxAmt><Amt Ccy="{currency}">{b_amt}</Amt></TxAmt></AmtDtls></TxDtls>'
            for b_e2e, b_amt in e.batch
        )
    else:
        e2e = f"<Refs><EndToEndId>{e.e2e}</EndToEndId></Refs>" if e.e2e else ""
        rtr = f"<RtrInf><Rsn><Cd>{e.return_reason}</Cd></Rsn></RtrInf>" if e.return_reason else ""
        details = f"<TxDtls>{e2e}<RmtInf><Ustrd>{e.text}</Ustrd></RmtInf>{rtr}</TxDtls>"
    domain, family, sub = e.code
    return f"""
      <Ntry>
        <NtryRef>{n}</NtryRef>
        <Amt Ccy="{currency}">{abs(amount):.2f}</Amt>
        <CdtDbtInd>{'CRDT' if amount > 0 else 'DBIT'}</CdtDbtInd>
        <Sts>{e.status}</Sts>
        {booking}
        <ValDt><Dt>{e.day}</Dt></ValDt>
        {ref}
        <BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>{details}</NtryDtls>
      </Ntry>"""


def _balance(code: str, amount: str, currency: str, day: str) -> str:
    value = Decimal(amount)
    return (f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{abs(value):.2f}</Amt>'
            f"<CdtDbtInd>{'CRDT' if value >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>")


def camt(
    *, iban: str = "DE89370400440532013000", currency: str = "EUR", stmt_id: str = "STMT-1", seq: str = "1",
    opening: str = "1000.00", closing: str | None = None, entries: list[E] = (), kind: str = "053",
    period: tuple[str, str] = ("2026-11-02", "2026-11-02"), version: str = "02",
) -> bytes:
    """A camt.053 statement, camt.052 report (no closing balance) or camt.054 notification (no balances)."""
    root, stmt = {"053": ("BkToCstmrStmt", "Stmt"), "052": ("BkToCstmrAcctRpt", "Rpt"),
                  "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}[kind]
    total = Decimal(opening) + sum((Decimal(e.amount) for e in entries if e.status == "BOOK"), Decimal(0))
    closing = closing if closing is not None else f"{total:.2f}"
    balances = ""
    if kind != "054":
        balances = _balance("OPBD", opening, currency, period[0])
    if kind == "053":
        balances += _balance("CLBD", closing, currency, period[1])
    ntries = "".join(_entry_xml(n, e, currency) for n, e in enumerate(entries))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.{kind}.001.{version}">
  <{root}>
    <GrpHdr><MsgId>MSG-{stmt_id}</MsgId><CreDtTm>{period[1]}T20:00:00</CreDtTm></GrpHdr>
    <{stmt}>
      <Id>{stmt_id}</Id>
      <ElctrncSeqNb>{seq}</ElctrncSeqNb>
      <CreDtTm>{period[1]}T20:00:00</CreDtTm>
      <FrToDt><FrDtTm>{period[0]}T00:00:00</FrDtTm><ToDtTm>{period[1]}T23:59:59</ToDtTm></FrToDt>
      <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>
      {balances}
      {ntries}
    </{stmt}>
  </{root}>
</Document>
""".encode()
