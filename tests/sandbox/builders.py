"""pain.001 files written by the tests themselves (.001.03 and .001.09)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from xml.sax.saxutils import escape

DEBTOR = "DE89370400440532013000"
INTERNAL = "DE65100700000123456789"  # a second account at the sandbox bank
CLOSED = "DE12500400000987654321"
OUTSIDE = "FR1420041010050500013M02606"  # a valid IBAN at another bank
BAD_CHECKSUM = "DE89370400440532013001"
BANK_BIC = "SBXBDEFFXXX"


@dataclass
class T:
    e2e: str
    amount: str = "100.00"
    iban: str = OUTSIDE
    bic: str | None = "BNPAFRPPXXX"
    name: str = "Fournisseur SA"
    currency: str = "EUR"
    remittance: str = "Invoice 4711"


@dataclass
class P:
    txs: list[T]
    pmt_inf_id: str = "PMT-1"
    debtor_iban: str = DEBTOR
    date: str = "2026-11-02"
    nb_of_txs: int | None = None  # override to break the count
    ctrl_sum: str | None = None  # override to break the sum


def pain001(*, version: str = "03", msg_id: str = "MSG-1", pmt_infs: list[P] = (), nb_of_txs: int | None = None,
            ctrl_sum: str | None = None) -> bytes:
    v03 = version == "03"
    bic_tag = "BIC" if v03 else "BICFI"
    all_txs = [t for p in pmt_infs for t in p.txs]
    total = sum((Decimal(t.amount) for t in all_txs), Decimal(0))
    blocks = []
    for p in pmt_infs:
        sub_total = sum((Decimal(t.amount) for t in p.txs), Decimal(0))
        date = f"<ReqdExctnDt>{p.date}</ReqdExctnDt>" if v03 else f"<ReqdExctnDt><Dt>{p.date}</Dt></ReqdExctnDt>"
        txs = []
        for t in p.txs:
            agent = f"<CdtrAgt><FinInstnId><{bic_tag}>{t.bic}</{bic_tag}></FinInstnId></CdtrAgt>" if t.bic else ""
            txs.append(f"""
      <CdtTrfTxInf>
        <PmtId><InstrId>I-{escape(t.e2e)}</InstrId><EndToEndId>{escape(t.e2e)}</EndToEndId></PmtId>
        <Amt><InstdAmt Ccy="{t.currency}">{t.amount}</InstdAmt></Amt>
        {agent}
        <Cdtr><Nm>{escape(t.name)}</Nm></Cdtr>
        <CdtrAcct><Id><IBAN>{t.iban}</IBAN></Id></CdtrAcct>
        <RmtInf><Ustrd>{escape(t.remittance)}</Ustrd></RmtInf>
      </CdtTrfTxInf>""")
        blocks.append(f"""
    <PmtInf>
      <PmtInfId>{p.pmt_inf_id}</PmtInfId>
      <PmtMtd>TRF</PmtMtd>
      <NbOfTxs>{p.nb_of_txs if p.nb_of_txs is not None else len(p.txs)}</NbOfTxs>
      <CtrlSum>{p.ctrl_sum or sub_total}</CtrlSum>
      <PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf>
      {date}
      <Dbtr><Nm>Acme GmbH</Nm></Dbtr>
      <DbtrAcct><Id><IBAN>{p.debtor_iban}</IBAN></Id></DbtrAcct>
      <DbtrAgt><FinInstnId><{bic_tag}>{BANK_BIC}</{bic_tag}></FinInstnId></DbtrAgt>
      <ChrgBr>SLEV</ChrgBr>{''.join(txs)}
    </PmtInf>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.{version}">
  <CstmrCdtTrfInitn>
    <GrpHdr>
      <MsgId>{msg_id}</MsgId>
      <CreDtTm>2026-11-02T09:00:00</CreDtTm>
      <NbOfTxs>{nb_of_txs if nb_of_txs is not None else len(all_txs)}</NbOfTxs>
      <CtrlSum>{ctrl_sum or total}</CtrlSum>
      <InitgPty><Nm>Acme GmbH</Nm></InitgPty>
    </GrpHdr>{''.join(blocks)}
  </CstmrCdtTrfInitn>
</Document>
""".encode()


def one(e2e: str = "E2E-1", *, version: str = "03", msg_id: str | None = None, **tx) -> bytes:
    """A file with one payment."""
    return pain001(version=version, msg_id=msg_id or f"MSG-{e2e}", pmt_infs=[P([T(e2e, **tx)])])
