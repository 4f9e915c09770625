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


def camt(
    *, iban: str = "DE89370400440532013000", currency: str = "EUR", stmt_id: str = "STMT-1", seq: str = "1",
    opening: str = "1000.00", closing: str | None = None, entries: list[E] = (), kind: str = "053",
    period: tuple[str, str] = ("2026-11-02", "2026-11-02"), version: str = "02",
) -> bytes:
    root, stmt = {"053": ("BkToCstmrStmt", "Stmt"), "052": ("BkToCstmrAcctRpt", "Rpt")}[kind]
    total = Decimal(opening) + sum((Decimal(e.amount) for e in entries if e.status == "BOOK"), Decimal(0))
    closing = closing if closing is not None else f"{total:.2f}"
    ntries = []
    for n, e in enumerate(entries):
        amount = Decimal(e.amount)
        rtr = ""
        if e.return_reason:
            rtr = f"<RtrInf><Rsn><Cd>{e.return_reason}</Cd></Rsn></RtrInf>"
        ntries.append(f"""
      <Ntry>
        <NtryRef>{n}</NtryRef>
        <Amt Ccy="{currency}">{abs(amount):.2f}</Amt>
        <CdtDbtInd>{'CRDT' if amount > 0 else 'DBIT'}</CdtDbtInd>
        <Sts>{e.status}</Sts>
        {f'<BookgDt><Dt>{e.day}</Dt></BookgDt>' if e.status == 'BOOK' else ''}
        <ValDt><Dt>{e.day}</Dt></ValDt>
        {f'<AcctSvcrRef>{e.ref}</AcctSvcrRef>' if e.ref else ''}
        <BkTxCd><Domn><Cd>{e.code[0]}</Cd><Fmly><Cd>{e.code[1]}</Cd><SubFmlyCd>{e.code[2]}</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          {f'<Refs><EndToEndId>{e.e2e}</EndToEndId></Refs>' if e.e2e else ''}
          <RmtInf><Ustrd>{e.text}</Ustrd></RmtInf>
          {rtr}
        </TxDtls></NtryDtls>
      </Ntry>""")
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
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{abs(Decimal(opening)):.2f}</Amt>
        <CdtDbtInd>{'CRDT' if Decimal(opening) >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{period[0]}</Dt></Dt></Bal>
      {'' if kind == '052' else f'''<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{abs(Decimal(closing)):.2f}</Amt>
        <CdtDbtInd>{'CRDT' if Decimal(closing) >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{period[1]}</Dt></Dt></Bal>'''}
      {''.join(ntries)}
    </{stmt}>
  </{root}>
</Document>
""".encode()
