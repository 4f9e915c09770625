"""Statement writers: camt.053.001.02 (end of day), camt.054.001.02 (debit notification) and MT940."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from apps.sandbox.pain import fmt_amount
from apps.sandbox.xml import Builder

CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
CAMT054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
CODES = {"payment": ("PMNT", "ICDT", "ESCT"), "incoming": ("PMNT", "RCDT", "ESCT"), "return": ("PMNT", "ICDT", "RRTN")}
SWIFT_CODES = {"payment": "NTRF", "incoming": "NTRF", "return": "NRTI"}


@dataclass(frozen=True)
class Line:
    kind: str  # payment | incoming | return
    amount: Decimal  # signed
    booking_date: dt.date
    reference: str
    end_to_end_id: str = ""
    counterparty_name: str = ""
    counterparty_account: str = ""
    remittance: str = ""
    return_reason: str = ""


@dataclass(frozen=True)
class AccountHeader:
    identifier: str
    is_iban: bool
    currency: str
    owner: str
    bank_bic: str


def _balance(b: Builder, parent, code: str, amount: Decimal, currency: str, day: dt.date) -> None:
    bal = b.sub(parent, "Bal")
    b.path(bal, "Tp/CdOrPrtry/Cd", code)
    b.sub(bal, "Amt", fmt_amount(abs(amount), currency), Ccy=currency)
    b.sub(bal, "CdtDbtInd", "CRDT" if amount >= 0 else "DBIT")
    b.path(bal, "Dt/Dt", day.isoformat())


def _account(b: Builder, parent, acct: AccountHeader) -> None:
    el = b.sub(parent, "Acct")
    if acct.is_iban:
        b.path(el, "Id/IBAN", acct.identifier)
    else:
        b.path(el, "Id/Othr/Id", acct.identifier)
    b.sub(el, "Ccy", acct.currency)
    if acct.owner:
        b.path(el, "Ownr/Nm", acct.owner[:70])
    b.path(el, "Svcr/FinInstnId/BIC", acct.bank_bic)


def _entry(b: Builder, parent, n: int, line: Line, currency: str) -> None:
    ntry = b.sub(parent, "Ntry")
    b.sub(ntry, "NtryRef", str(n))
    b.sub(ntry, "Amt", fmt_amount(abs(line.amount), currency), Ccy=currency)
    b.sub(ntry, "CdtDbtInd", "CRDT" if line.amount > 0 else "DBIT")
    b.sub(ntry, "Sts", "BOOK")
    b.path(ntry, "BookgDt/Dt", line.booking_date.isoformat())
    b.path(ntry, "ValDt/Dt", line.booking_date.isoformat())
    b.sub(ntry, "AcctSvcrRef", line.reference)
    domain, family, sub = CODES[line.kind]
    tx_code = b.sub(ntry, "BkTxCd")
    dom = b.sub(tx_code, "Domn")
    b.sub(dom, "Cd", domain)
    fam = b.sub(dom, "Fmly")
    b.sub(fam, "Cd", family)
    b.sub(fam, "SubFmlyCd", sub)
    tx = b.path(ntry, "NtryDtls/TxDtls")
    refs = b.sub(tx, "Refs")
    b.sub(refs, "AcctSvcrRef", line.reference)
    b.sub(refs, "EndToEndId", line.end_to_end_id or "NOTPROVIDED")
    b.path(tx, "AmtDtls/TxAmt/Amt", fmt_amount(abs(line.amount), currency), Ccy=currency)
    if line.counterparty_name or line.counterparty_account:
        parties = b.sub(tx, "RltdPties")
        # outgoing payment: the counterparty is the creditor; incoming credit and return: the debtor
        role, acct_role = ("Cdtr", "CdtrAcct") if line.kind == "payment" else ("Dbtr", "DbtrAcct")
        if line.counterparty_name:
            b.path(parties, f"{role}/Nm", line.counterparty_name[:70])
        if line.counterparty_account:
            is_iban = line.counterparty_account[:2].isalpha() and line.counterparty_account[2:4].isdigit()
            b.path(parties, f"{acct_role}/Id/" + ("IBAN" if is_iban else "Othr/Id"), line.counterparty_account)
    if line.remittance:
        b.path(tx, "RmtInf/Ustrd", line.remittance[:140])
    if line.kind == "return":
        rtr = b.sub(tx, "RtrInf")
        b.path(rtr, "Rsn/Cd", line.return_reason or "NARR")
        b.sub(rtr, "AddtlInf", f"Return of {line.end_to_end_id}"[:105])


def camt053(*, acct: AccountHeader, statement_id: str, seq: int, day: dt.date, opening: Decimal,
            closing: Decimal, lines: list[Line], now: dt.datetime, msg_id: str) -> bytes:
    b = Builder(CAMT053)
    root = b.sub(b.root, "BkToCstmrStmt")
    hdr = b.sub(root, "GrpHdr")
    b.sub(hdr, "MsgId", msg_id)
    b.sub(hdr, "CreDtTm", now.replace(microsecond=0).isoformat())
    pg = b.sub(hdr, "MsgPgntn")
    b.sub(pg, "PgNb", "1")
    b.sub(pg, "LastPgInd", "true")
    stmt = b.sub(root, "Stmt")
    b.sub(stmt, "Id", statement_id)
    b.sub(stmt, "ElctrncSeqNb", str(seq))
    b.sub(stmt, "LglSeqNb", str(seq))
    b.sub(stmt, "CreDtTm", now.replace(microsecond=0).isoformat())
    period = b.sub(stmt, "FrToDt")
    b.sub(period, "FrDtTm", f"{day.isoformat()}T00:00:00")
    b.sub(period, "ToDtTm", f"{day.isoformat()}T23:59:59")
    _account(b, stmt, acct)
    _balance(b, stmt, "OPBD", opening, acct.currency, day)
    _balance(b, stmt, "CLBD", closing, acct.currency, day)
    credits = [ln for ln in lines if ln.amount > 0]
    debits = [ln for ln in lines if ln.amount < 0]
    summary = b.sub(stmt, "TxsSummry")
    total = b.sub(summary, "TtlNtries")
    b.sub(total, "NbOfNtries", str(len(lines)))
    for tag, group in (("TtlCdtNtries", credits), ("TtlDbtNtries", debits)):
        el = b.sub(summary, tag)
        b.sub(el, "NbOfNtries", str(len(group)))
        b.sub(el, "Sum", fmt_amount(sum((abs(ln.amount) for ln in group), Decimal(0)), acct.currency))
    for n, line in enumerate(lines, start=1):
        _entry(b, stmt, n, line, acct.currency)
    return b.bytes()


def camt054(*, acct: AccountHeader, notification_id: str, seq: int, line: Line, now: dt.datetime,
            msg_id: str) -> bytes:
    b = Builder(CAMT054)
    root = b.sub(b.root, "BkToCstmrDbtCdtNtfctn")
    hdr = b.sub(root, "GrpHdr")
    b.sub(hdr, "MsgId", msg_id)
    b.sub(hdr, "CreDtTm", now.replace(microsecond=0).isoformat())
    ntf = b.sub(root, "Ntfctn")
    b.sub(ntf, "Id", notification_id)
    b.sub(ntf, "ElctrncSeqNb", str(seq))
    b.sub(ntf, "CreDtTm", now.replace(microsecond=0).isoformat())
    _account(b, ntf, acct)
    _entry(b, ntf, 1, line, acct.currency)
    return b.bytes()


def _mt_amount(amount: Decimal, currency: str) -> str:
    return fmt_amount(abs(amount), currency).replace(".", ",")


def _mt_text(value: str) -> str:
    """SWIFT x character set, no slashes inside a /TAG/ value."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-?:().,'+ ")
    return "".join(ch if ch in allowed else " " for ch in value).strip()


def mt940(*, acct: AccountHeader, statement_id: str, seq: int, day: dt.date, opening: Decimal,
          closing: Decimal, lines: list[Line]) -> bytes:
    yymmdd = day.strftime("%y%m%d")
    out = [
        f":20:{statement_id[:16]}",
        f":25:{acct.identifier}",
        f":28C:{seq:05d}/1",
        f":60F:{'C' if opening >= 0 else 'D'}{yymmdd}{acct.currency}{_mt_amount(opening, acct.currency)}",
    ]
    for line in lines:
        mark = "C" if line.amount > 0 else "D"
        when = line.booking_date.strftime("%y%m%d")
        customer_ref = (line.end_to_end_id or "NONREF")[:16]
        out.append(f":61:{when}{when[2:]}{mark}{_mt_amount(line.amount, acct.currency)}"
                   f"{SWIFT_CODES[line.kind]}{customer_ref}//{line.reference[:16]}")
        info = f"/TRTP/{'SEPA OVERBOEKING' if line.kind != 'return' else 'SEPA RETOUR'}"
        if line.return_reason:
            info += f"/RTRN/{line.return_reason}"
        if line.counterparty_account:
            info += f"/IBAN/{line.counterparty_account}"
        if line.counterparty_name:
            info += f"/NAME/{_mt_text(line.counterparty_name)[:70]}"
        if line.remittance:
            info += f"/REMI/USTD//{_mt_text(line.remittance)[:140]}"
        if line.end_to_end_id:
            info += f"/EREF/{_mt_text(line.end_to_end_id)}"
        info += "/"
        chunks = [info[i:i + 65] for i in range(0, len(info), 65)][:6]
        out.append(f":86:{chunks[0]}")
        out.extend(chunks[1:])
    out.append(f":62F:{'C' if closing >= 0 else 'D'}{yymmdd}{acct.currency}{_mt_amount(closing, acct.currency)}")
    out.append("-")
    return ("\r\n".join(out) + "\r\n").encode("ascii", "replace")
