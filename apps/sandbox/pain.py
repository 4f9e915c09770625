"""pain.001 in (.001.03 / .001.09), pain.002 out (.001.03 / .001.10). Pure functions over lxml trees."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lxml import etree

from apps.core.money import is_currency, minor_units
from apps.sandbox.xml import Builder, XmlRefused

PAIN002_FOR = {"pain.001.001.03": "pain.002.001.03", "pain.001.001.09": "pain.002.001.10"}
REASON_TEXT = {
    "AC01": "Creditor account number invalid (IBAN check failed)",
    "AC02": "Debtor account number invalid or unknown at this bank",
    "AC04": "Account closed",
    "AM02": "Amount exceeds the allowed maximum for this account",
    "AM03": "Currency not allowed for the debtor account",
    "AM05": "Duplicate payment",
    "AM10": "Control sum does not match the sum of the amounts",
    "AM18": "Number of transactions does not match the count",
    "DU01": "Duplicate message id",
    "FF01": "Invalid file format",
    "RC01": "Bank identifier (BIC) invalid",
    "MS03": "Reason not specified",
}


@dataclass
class Tx:
    instr_id: str
    end_to_end_id: str
    amount: Decimal
    currency: str
    creditor_name: str
    creditor_account: str
    creditor_is_iban: bool
    creditor_bic: str
    remittance: str
    status: str = ""
    reason: str = ""


@dataclass
class PmtInf:
    pmt_inf_id: str
    nb_of_txs: int | None
    ctrl_sum: Decimal | None
    requested_date: dt.date
    debtor_name: str
    debtor_account: str
    debtor_currency: str
    debtor_bic: str
    txs: list[Tx] = field(default_factory=list)
    status: str = ""
    reason: str = ""


@dataclass
class Pain001:
    version: str
    msg_id: str
    created: str
    nb_of_txs: int
    ctrl_sum: Decimal | None
    pmt_infs: list[PmtInf]
    group_status: str = ""
    group_reason: str = ""

    @property
    def txs(self) -> list[Tx]:
        return [tx for p in self.pmt_infs for tx in p.txs]


def _t(el: etree._Element | None, path: str, ns: dict[str, str]) -> str:
    if el is None:
        return ""
    found = el.find(path, ns)
    return (found.text or "").strip() if found is not None else ""


def _dec(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise XmlRefused(f"{text!r} is not a decimal amount", {"reason": "FF01"}) from None


def _account(el: etree._Element | None, ns: dict[str, str]) -> tuple[str, bool]:
    iban = _t(el, "p:Id/p:IBAN", ns)
    return (iban, True) if iban else (_t(el, "p:Id/p:Othr/p:Id", ns), False)


def parse_pain001(tree: etree._ElementTree, version: str) -> Pain001:
    """Read a schema-valid pain.001 (both versions)."""
    root = tree.getroot()
    ns = {"p": etree.QName(root).namespace}
    bic = "p:FinInstnId/p:BIC" if version == "pain.001.001.03" else "p:FinInstnId/p:BICFI"
    init = root.find("p:CstmrCdtTrfInitn", ns)
    hdr = init.find("p:GrpHdr", ns)
    pmt_infs = []
    for pi in init.findall("p:PmtInf", ns):
        if version == "pain.001.001.03":
            reqd = _t(pi, "p:ReqdExctnDt", ns)
        else:
            reqd = _t(pi, "p:ReqdExctnDt/p:Dt", ns) or _t(pi, "p:ReqdExctnDt/p:DtTm", ns)[:10]
        debtor_account, _ = _account(pi.find("p:DbtrAcct", ns), ns)
        info = PmtInf(
            pmt_inf_id=_t(pi, "p:PmtInfId", ns),
            nb_of_txs=int(_t(pi, "p:NbOfTxs", ns)) if _t(pi, "p:NbOfTxs", ns) else None,
            ctrl_sum=_dec(_t(pi, "p:CtrlSum", ns)),
            requested_date=dt.date.fromisoformat(reqd[:10]),
            debtor_name=_t(pi, "p:Dbtr/p:Nm", ns),
            debtor_account=debtor_account,
            debtor_currency=_t(pi, "p:DbtrAcct/p:Ccy", ns),
            debtor_bic=_t(pi.find("p:DbtrAgt", ns), bic, ns),
        )
        for tx in pi.findall("p:CdtTrfTxInf", ns):
            amount_el = tx.find("p:Amt/p:InstdAmt", ns)
            if amount_el is None:
                amount_el = tx.find("p:Amt/p:EqvtAmt/p:Amt", ns)
            creditor_account, is_iban = _account(tx.find("p:CdtrAcct", ns), ns)
            info.txs.append(Tx(
                instr_id=_t(tx, "p:PmtId/p:InstrId", ns),
                end_to_end_id=_t(tx, "p:PmtId/p:EndToEndId", ns),
                amount=Decimal((amount_el.text or "").strip()),
                currency=amount_el.get("Ccy", ""),
                creditor_name=_t(tx, "p:Cdtr/p:Nm", ns),
                creditor_account=creditor_account,
                creditor_is_iban=is_iban,
                creditor_bic=_t(tx.find("p:CdtrAgt", ns), bic, ns),
                remittance=" ".join(u.text or "" for u in tx.findall("p:RmtInf/p:Ustrd", ns)).strip()[:140],
            ))
        pmt_infs.append(info)
    return Pain001(
        version=version,
        msg_id=_t(hdr, "p:MsgId", ns),
        created=_t(hdr, "p:CreDtTm", ns),
        nb_of_txs=int(_t(hdr, "p:NbOfTxs", ns)),
        ctrl_sum=_dec(_t(hdr, "p:CtrlSum", ns)),
        pmt_infs=pmt_infs,
    )


def control_errors(msg: Pain001) -> tuple[str, str]:
    """(group reason, '') when the group header's count or control sum disagrees with the transactions."""
    txs = msg.txs
    if msg.nb_of_txs != len(txs):
        return "AM18", f"GrpHdr/NbOfTxs says {msg.nb_of_txs}, the file holds {len(txs)}"
    if msg.ctrl_sum is not None and msg.ctrl_sum != sum((t.amount for t in txs), Decimal(0)):
        return "AM10", f"GrpHdr/CtrlSum {msg.ctrl_sum} differs from the sum of the amounts"
    return "", ""


def pmt_inf_control_error(info: PmtInf) -> str:
    if info.nb_of_txs is not None and info.nb_of_txs != len(info.txs):
        return "AM18"
    if info.ctrl_sum is not None and info.ctrl_sum != sum((t.amount for t in info.txs), Decimal(0)):
        return "AM10"
    return ""


def roll_up(statuses: list[str], accepted: str) -> str:
    """Group or payment-information status from its transactions' statuses."""
    if statuses and all(s == "RJCT" for s in statuses):
        return "RJCT"
    if any(s == "RJCT" for s in statuses):
        return "PART"
    return accepted


def fmt_amount(amount: Decimal, currency: str) -> str:
    places = minor_units(currency) if is_currency(currency) else 2
    return f"{amount:.{places}f}"


def _reason(b: Builder, parent: etree._Element, code: str, *, with_text: bool) -> None:
    if not code:
        return
    info = b.sub(parent, "StsRsnInf")
    b.path(info, "Rsn/Cd", code)
    if with_text:
        b.sub(info, "AddtlInf", REASON_TEXT.get(code, REASON_TEXT["MS03"])[:105])


def new_message_id(prefix: str) -> str:
    return f"{prefix[:8]}-{uuid.uuid4().hex[:24]}"


def build_pain002(msg: Pain001, *, bank_bic: str, msg_id: str, now: dt.datetime,
                  only: list[tuple[PmtInf, Tx]] | None = None) -> bytes:
    """A pain.002 for ``msg``: its group, each payment information and each transaction with its status.

    ``only`` narrows the report to some transactions (a later status change, e.g. RJCT after ACCP); the group
    and payment-information statuses are then left out, as banks do for such follow-up reports.
    """
    version = PAIN002_FOR[msg.version]
    v03 = version == "pain.002.001.03"
    b = Builder(f"urn:iso:std:iso:20022:tech:xsd:{version}")
    report = b.sub(b.root, "CstmrPmtStsRpt")
    hdr = b.sub(report, "GrpHdr")
    b.sub(hdr, "MsgId", msg_id)
    b.sub(hdr, "CreDtTm", now.replace(microsecond=0).isoformat())
    b.path(hdr, "DbtrAgt/FinInstnId/" + ("BIC" if v03 else "BICFI"), bank_bic)

    grp = b.sub(report, "OrgnlGrpInfAndSts")
    b.sub(grp, "OrgnlMsgId", msg.msg_id)
    b.sub(grp, "OrgnlMsgNmId", msg.version)
    b.sub(grp, "OrgnlNbOfTxs", str(msg.nb_of_txs))
    if msg.ctrl_sum is not None:
        b.sub(grp, "OrgnlCtrlSum", str(msg.ctrl_sum))
    if only is None:
        b.sub(grp, "GrpSts", msg.group_status)
        _reason(b, grp, msg.group_reason, with_text=not v03)
        if not v03:
            _counts(b, grp, msg.txs)

    selected = {id(tx) for _, tx in only} if only is not None else None
    for info in msg.pmt_infs:
        txs = [tx for tx in info.txs if selected is None or id(tx) in selected]
        if not txs:
            continue
        pi = b.sub(report, "OrgnlPmtInfAndSts")
        b.sub(pi, "OrgnlPmtInfId", info.pmt_inf_id)
        if only is None:
            b.sub(pi, "OrgnlNbOfTxs", str(len(info.txs)))
            b.sub(pi, "OrgnlCtrlSum", str(sum((t.amount for t in info.txs), Decimal(0))))
            b.sub(pi, "PmtInfSts", info.status)
            _reason(b, pi, info.reason, with_text=not v03)
            if not v03:
                _counts(b, pi, info.txs)
        for tx in txs:
            t = b.sub(pi, "TxInfAndSts")
            b.sub(t, "StsId", new_message_id("STS"))
            if tx.instr_id:
                b.sub(t, "OrgnlInstrId", tx.instr_id)
            b.sub(t, "OrgnlEndToEndId", tx.end_to_end_id)
            b.sub(t, "TxSts", tx.status)
            _reason(b, t, tx.reason, with_text=not v03)
            ref = b.sub(t, "OrgnlTxRef")
            b.path(ref, "Amt/InstdAmt", fmt_amount(tx.amount, tx.currency), Ccy=tx.currency)
            if v03:
                b.sub(ref, "ReqdExctnDt", info.requested_date.isoformat())
            else:
                b.path(ref, "ReqdExctnDt/Dt", info.requested_date.isoformat())
            if tx.creditor_account and tx.creditor_is_iban:
                b.path(ref, "CdtrAcct/Id/IBAN", tx.creditor_account)
    return b.bytes()


def _counts(b: Builder, parent: etree._Element, txs: list[Tx]) -> None:
    by_status: dict[str, list[Tx]] = {}
    for tx in txs:
        by_status.setdefault(tx.status, []).append(tx)
    for status, group in by_status.items():
        counts = b.sub(parent, "NbOfTxsPerSts")
        b.sub(counts, "DtldNbOfTxs", str(len(group)))
        b.sub(counts, "DtldSts", status)
        b.sub(counts, "DtldCtrlSum", str(sum((t.amount for t in group), Decimal(0))))
