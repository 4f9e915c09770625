"""ISO 20022 camt.052 (intraday report), camt.053 (statement), camt.054 (debit/credit notification).

Streaming: ``lxml.etree.iterparse`` sees only the statement-level elements (``Stmt``/``Rpt``/``Ntfctn``,
``Ntry``, ``GrpHdr`` and the message element), so Python touches a handful of events per entry. Each ``Ntry``
is turned into a :class:`ParsedEntry` on its end tag and then cleared and detached with its preceding siblings,
which keeps memory flat for any number of entries. The statement header (everything before the first ``Ntry``:
Id, sequence numbers, account, balances) is complete when the first ``Ntry`` starts; that is when the
statement is yielded.

Hostile XML: the prolog is checked for DOCTYPE/ENTITY declarations before parsing (see
``detect.check_xml_prolog``), and the parser itself runs with ``resolve_entities=False, no_network=True,
load_dtd=False, huge_tree=False``; a DOCTYPE that slipped past the prolog check is refused at the first event.

Versions: any ``camt.05x.001.NN`` namespace, or none. Differences handled: ``Sts`` as text (v2-v6) or
``Sts/Cd`` (v8+); party as ``Dbtr/Nm`` (<= v6) or ``Dbtr/Pty/Nm`` (v8+); BIC in ``BIC`` (v2) or ``BICFI``
(v4+); transaction amount in ``TxDtls/Amt`` (v4+) or ``AmtDtls/TxAmt/Amt`` (v2); charges as ``Chrgs`` list (v2) or
``Chrgs/Rcrd`` (v4+). Version 01 (``BkToCstmrAcctRptV01`` etc.) predates the published schemas and is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import IO

from lxml import etree

from .detect import CAMT_052, CAMT_054, check_xml_prolog, family
from .errors import HostileXmlError, ParseError
from .model import (
    BOOKED,
    CREDIT,
    DEBIT,
    END_OF_DAY,
    INFO,
    INTRADAY,
    NOTIFICATION,
    PENDING,
    Charge,
    EntryStream,
    ParsedEntry,
    ParsedStatement,
    TransactionDetail,
    make_stream,
)
from .taxonomy import BankTransactionCode, normalise_iso

_STATEMENT_ELEMENTS = {"Stmt", "Rpt", "Ntfctn"}
_MESSAGE_ELEMENTS = {
    "BkToCstmrStmt",
    "BkToCstmrAcctRpt",
    "BkToCstmrDbtCdtNtfctn",
    "BkToCstmrStmtV01",
    "BkToCstmrAcctRptV01",
    "BkToCstmrDbtCdtNtfctnV01",
}
_TAGS = tuple("{*}" + t for t in (*_STATEMENT_ELEMENTS, *_MESSAGE_ELEMENTS, "Ntry", "GrpHdr"))
_STATUS = {"BOOK": BOOKED, "PDNG": PENDING, "INFO": INFO, "FUTR": PENDING}
_OPENING_BOOKED = ("OPBD", "PRCD")
_CLOSING_BOOKED = ("CLBD",)
_OPENING_AVAILABLE = ("OPAV",)
_CLOSING_AVAILABLE = ("CLAV", "ITAV")  # closing available; interim available for intraday reports
_KIND = {"camt.053": END_OF_DAY, CAMT_052: INTRADAY, CAMT_054: NOTIFICATION}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[:1] == "{" else tag


class _Paths:
    """Namespace-qualified ElementPath strings, built once per path."""

    def __init__(self, ns: str):
        self.ns = ns
        self._cache: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        p = self._cache.get(path)
        if p is None:
            if self.ns:
                p = "/".join(s if s in (".", "..", "*") else f"{{{self.ns}}}{s}" for s in path.split("/"))
            else:
                p = path
            self._cache[path] = p
        return p


def _date(text: str | None) -> date | None:
    if not text:
        return None
    text = text.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        d = _date(text)
        return datetime(d.year, d.month, d.day) if d else None


class _CamtReader:
    def __init__(self, reader: IO[bytes], fmt: str):
        self.reader = reader
        self.fmt = fmt
        self.family = family(fmt)
        self.p = _Paths("")
        self.message: etree._Element | None = None
        self.message_id: str | None = None
        self.created_at: datetime | None = None

    # ------------------------------------------------------------------ helpers
    def _text(self, el: etree._Element | None, path: str) -> str | None:
        if el is None:
            return None
        t = el.findtext(self.p(path))
        if t is None:
            return None
        t = t.strip()
        return t or None

    def _where(self, el: etree._Element) -> str:
        parts = []
        node: etree._Element | None = el
        while node is not None:
            parts.append(_local(node.tag))
            node = node.getparent()
        return f"line {el.sourceline}, /" + "/".join(reversed(parts))

    def _amount(self, el: etree._Element | None, path: str, where: etree._Element) -> tuple[Decimal, str | None] | None:
        if el is None:
            return None
        amt = el.find(self.p(path))
        if amt is None:
            return None
        text = (amt.text or "").strip()
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ParseError(
                f"amount {text!r} in <{path}> is not a number; expected e.g. 1234.56",
                self._where(amt if amt.sourceline else where),
            ) from None
        if not value.is_finite():
            raise ParseError(f"amount {text!r} is not a finite number", self._where(amt))
        return value, (amt.get("Ccy") or None)

    def _sign(self, indicator: str | None, where: etree._Element, *, default: str | None = None) -> str:
        ind = (indicator or default or "").upper()
        if ind == "CRDT":
            return CREDIT
        if ind == "DBIT":
            return DEBIT
        raise ParseError(
            f"credit/debit indicator {indicator!r}: expected <CdtDbtInd>CRDT</CdtDbtInd> or DBIT",
            self._where(where),
        )

    def _account_id(self, acct: etree._Element | None) -> str | None:
        if acct is None:
            return None
        return self._text(acct, "Id/IBAN") or self._text(acct, "Id/Othr/Id") or self._text(acct, "Id/PrxyId/Id")

    def _bic(self, el: etree._Element | None) -> str | None:
        if el is None:
            return None
        return self._text(el, "FinInstnId/BICFI") or self._text(el, "FinInstnId/BIC")

    def _party_name(self, el: etree._Element | None) -> str | None:
        if el is None:
            return None
        return self._text(el, "Nm") or self._text(el, "Pty/Nm") or self._text(el, "Agt/FinInstnId/Nm")

    def _bank_tx_code(self, el: etree._Element | None) -> BankTransactionCode | None:
        if el is None:
            return None
        bk = el.find(self.p("BkTxCd"))
        if bk is None:
            return None
        return normalise_iso(
            self._text(bk, "Domn/Cd"),
            self._text(bk, "Domn/Fmly/Cd"),
            self._text(bk, "Domn/Fmly/SubFmlyCd"),
            self._text(bk, "Prtry/Cd"),
        )

    def _charges(self, el: etree._Element, where: etree._Element) -> tuple[Charge, ...]:
        out: list[Charge] = []
        for chrgs in el.iterfind(self.p("Chrgs")):
            records = chrgs.findall(self.p("Rcrd")) or [chrgs]
            for rec in records:
                amt = self._amount(rec, "Amt", where)
                if amt is None:
                    continue
                value, ccy = amt
                if self._text(rec, "CdtDbtInd") == "DBIT":
                    value = -value
                incl = self._text(rec, "ChrgInclInd")
                out.append(
                    Charge(
                        amount=value,
                        currency=ccy,
                        code=self._text(rec, "Tp/Cd") or self._text(rec, "Tp/Prtry/Id"),
                        included=None if incl is None else incl.lower() == "true",
                        bearer=self._text(rec, "Br"),
                    )
                )
        return tuple(out)

    # ------------------------------------------------------------------ parsing
    def statements(self) -> Iterator[ParsedStatement]:
        check_xml_prolog(getattr(self.reader, "head", b""))
        context = etree.iterparse(
            self.reader,
            events=("start", "end"),
            tag=_TAGS,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            dtd_validation=False,
        )
        events = self._safe(iter(context))
        self._events = events
        statement_count = 0
        checked = False
        for event, el in events:
            if not checked:
                checked = True
                self._refuse_doctype(el)
            name = _local(el.tag)
            if event == "start" and name in _MESSAGE_ELEMENTS:
                self.message = el
                ns = el.tag[1:].partition("}")[0] if el.tag[:1] == "{" else ""
                self.p = _Paths(ns)
                if name.endswith("V01") or self.fmt.endswith(".001.01"):
                    raise ParseError(
                        f"{self.fmt} (<{name}>) is version 01, which predates the published ISO 20022 camt "
                        "schemas and is not supported; expected version .001.02 or later",
                        self._where(el),
                    )
            elif event == "end" and name == "GrpHdr":
                self.message_id = self._text(el, "MsgId")
                self.created_at = _datetime(self._text(el, "CreDtTm"))
            elif event == "start" and name in _STATEMENT_ELEMENTS and el.getparent() is self.message:
                statement_count += 1
                yield from self._statement(el, statement_count)
        if self.message is None:
            raise ParseError(
                f"no camt message element found; expected <BkToCstmrStmt>, <BkToCstmrAcctRpt> or "
                f"<BkToCstmrDbtCdtNtfctn> under <Document> ({self.fmt})",
                "line 1, /Document",
            )
        if statement_count == 0:
            expected = {"camt.053": "Stmt", CAMT_052: "Rpt", CAMT_054: "Ntfctn"}.get(self.family, "Stmt")
            raise ParseError(
                f"the message contains no <{expected}>: expected at least one statement/report/notification",
                self._where(self.message),
            )

    @staticmethod
    def _safe(events: Iterator[tuple[str, etree._Element]]) -> Iterator[tuple[str, etree._Element]]:
        try:
            yield from events
        except etree.XMLSyntaxError as exc:
            line = exc.lineno or (exc.position[0] if exc.position else None)
            raise ParseError(f"malformed XML: {exc.msg}", f"line {line}") from None

    def _refuse_doctype(self, el: etree._Element) -> None:
        docinfo = el.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise HostileXmlError("DOCTYPE/entity declarations are not allowed in statement files", "line 1")

    def _statement(self, stmt: etree._Element, number: int) -> Iterator[ParsedStatement]:
        events = self._events
        first_entry: etree._Element | None = None
        ended = False
        for event, el in events:
            if event == "start" and el.getparent() is stmt and _local(el.tag) == "Ntry":
                first_entry = el
                break
            if event == "end" and el is stmt:
                ended = True
                break
        if not ended and first_entry is None:
            raise ParseError("document ended inside a statement; expected its closing tag", self._where(stmt))
        statement = self._header(stmt, number, ended)
        yield statement
        statement.entries._drain()

    def _header(self, stmt: etree._Element, number: int, ended: bool) -> ParsedStatement:
        p = self.p
        acct = stmt.find(p("Acct"))
        if acct is None:
            raise ParseError("statement has no <Acct>: expected the account (IBAN or Othr/Id)", self._where(stmt))
        account = self._account_id(acct)
        if not account:
            raise ParseError("<Acct> has no <Id><IBAN> or <Id><Othr><Id>", self._where(acct))
        currency = self._text(acct, "Ccy")
        balances = []
        found: dict[str, Decimal] = {}
        dates: dict[str, date | None] = {}
        for bal in stmt.iterfind(p("Bal")):
            code = self._text(bal, "Tp/CdOrPrtry/Cd") or self._text(bal, "Tp/CdOrPrtry/Prtry")
            amt = self._amount(bal, "Amt", bal)
            if code is None or amt is None:
                raise ParseError(
                    "balance without type or amount: expected <Tp><CdOrPrtry><Cd>OPBD</Cd>... and <Amt Ccy=..>",
                    self._where(bal),
                )
            value, ccy = amt
            if self._text(bal, "CdtDbtInd") == "DBIT":  # missing indicator -> credit (positive)
                value = -value
            when = _date(self._text(bal, "Dt/Dt") or self._text(bal, "Dt/DtTm"))
            balances.append((code, value, ccy, when))
            found.setdefault(code, value)
            dates.setdefault(code, when)
            if currency is None and ccy:
                currency = ccy

        def first(codes: tuple[str, ...]) -> Decimal | None:
            for c in codes:
                if c in found:
                    return found[c]
            return None

        elec = self._text(stmt, "ElctrncSeqNb")
        legal = self._text(stmt, "LglSeqNb")
        period_from = _date(self._text(stmt, "FrToDt/FrDtTm") or self._text(stmt, "FrToDt/FrDt"))
        period_to = _date(self._text(stmt, "FrToDt/ToDtTm") or self._text(stmt, "FrToDt/ToDt"))
        parent_path = self._where(self.message).split(", ", 1)[1] if self.message is not None else "/Document"
        stmt_path = f"{parent_path}/{_local(stmt.tag)}[{number}]"
        ctx = {"currency": currency, "stmt_path": stmt_path, "stmt": stmt, "ended": ended}
        stream = make_stream(lambda s: self._entries(s, ctx), currency)
        stream.trailer["closing_booked"] = first(_CLOSING_BOOKED)
        stream.trailer["closing_available"] = first(_CLOSING_AVAILABLE)
        stream.trailer["closing_date"] = dates.get("CLBD")
        return ParsedStatement(
            format=self.fmt,
            kind=_KIND.get(self.family, END_OF_DAY),
            statement_id=self._text(stmt, "Id"),
            sequence=elec or legal,
            account=account,
            account_servicer=self._bic(acct.find(p("Svcr"))),
            currency=currency,
            created_at=_datetime(self._text(stmt, "CreDtTm")) or self.created_at,
            period_from=period_from,
            period_to=period_to,
            opening_booked=first(_OPENING_BOOKED),
            opening_available=first(_OPENING_AVAILABLE),
            entries=stream,
            message_id=self.message_id,
            legal_sequence=legal,
            account_owner=self._party_name(acct.find(p("Ownr"))),
            additional_info=None,
            balances=tuple(balances),
            source_line=stmt.sourceline,
            source_path=stmt_path,
        )

    def _entries(self, stream: EntryStream, ctx: dict) -> Iterator[ParsedEntry]:
        stmt = ctx["stmt"]
        if ctx["ended"]:
            self._free(stmt)
            return
        index = 0
        for event, el in self._events:
            if event == "end":
                if el is stmt:
                    self._free(stmt)
                    return
                if el.getparent() is stmt and _local(el.tag) == "Ntry":
                    index += 1
                    entry = self._entry(el, ctx, index)
                    self._free(el)
                    yield entry
        raise ParseError("document ended inside a statement; expected its closing tag", ctx["stmt_path"])

    @staticmethod
    def _free(el: etree._Element) -> None:
        el.clear(keep_tail=False)
        parent = el.getparent()
        if parent is not None:
            while el.getprevious() is not None:
                del parent[0]

    def _entry(self, n: etree._Element, ctx: dict, index: int) -> ParsedEntry:
        p = self.p
        path = f"{ctx['stmt_path']}/Ntry[{index}]"
        amt = self._amount(n, "Amt", n)
        if amt is None:
            raise ParseError("entry has no <Amt Ccy=...>: expected the entry amount", f"line {n.sourceline}, {path}")
        value, ccy = amt
        try:
            direction = self._sign(self._text(n, "CdtDbtInd"), n)
        except ParseError as exc:
            raise ParseError(exc.reason, f"line {n.sourceline}, {path}") from None
        signed = value if direction == CREDIT else -value
        sts_el = n.find(p("Sts"))
        if sts_el is None:
            status_code = "BOOK"
        else:
            status_code = (self._text(sts_el, "Cd") or self._text(sts_el, "Prtry") or (sts_el.text or "")).strip()
        status = _STATUS.get(status_code.upper(), BOOKED if not status_code else INFO)
        reversal = (self._text(n, "RvslInd") or "").lower() in ("true", "1")
        code = self._bank_tx_code(n)

        details: list[TransactionDetail] = []
        for t_index, tx in enumerate(n.iterfind(p("NtryDtls/TxDtls")), 1):
            details.append(self._detail(tx, direction, ccy, f"{path}/TxDtls[{t_index}]"))

        orig_amount = orig_ccy = rate = None
        instd = self._amount(n, "AmtDtls/InstdAmt/Amt", n)
        if instd:
            orig_amount, orig_ccy = instd
        rate_text = self._text(n, "AmtDtls/InstdAmt/CcyXchg/XchgRate") or self._text(
            n, "AmtDtls/TxAmt/CcyXchg/XchgRate"
        )
        if rate_text:
            rate = _decimal_or_none(rate_text)

        single = details[0] if len(details) == 1 else None
        is_return = bool(code and code.is_return) or any(d.is_return for d in details)
        return_reason = next((d.return_reason for d in details if d.return_reason), None)
        if single is not None:
            if orig_amount is None and single.original_amount is not None:
                orig_amount, orig_ccy = single.original_amount, single.original_currency
            if rate is None:
                rate = single.exchange_rate
        return ParsedEntry(
            amount=signed,
            currency=ccy,
            direction=direction,
            status=status,
            booking_date=_date(self._text(n, "BookgDt/Dt") or self._text(n, "BookgDt/DtTm")),
            value_date=_date(self._text(n, "ValDt/Dt") or self._text(n, "ValDt/DtTm")),
            bank_reference=self._text(n, "NtryRef"),
            servicer_reference=self._text(n, "AcctSvcrRef") or (single.servicer_reference if single else None),
            customer_reference=(single.instruction_id if single else None),
            end_to_end_id=single.end_to_end_id if single else None,
            mandate_id=single.mandate_id if single else None,
            counterparty_name=single.counterparty_name if single else None,
            counterparty_account=single.counterparty_account if single else None,
            counterparty_bic=single.counterparty_bic if single else None,
            remittance_text=single.remittance_text if single else None,
            structured_reference=single.structured_reference if single else None,
            additional_info=_squash(self._text(n, "AddtlNtryInf")),
            bank_tx_code=code or (single.bank_tx_code if single else None),
            raw_type_code=(code or (single.bank_tx_code if single else None) or _NO_CODE).raw or None,
            is_reversal=reversal,
            is_return=is_return,
            return_reason=return_reason,
            original_end_to_end_id=single.original_end_to_end_id if single else None,
            original_amount=orig_amount,
            original_currency=orig_ccy,
            exchange_rate=rate,
            charges=self._charges(n, n) + (single.charges if single else ()),
            transactions=tuple(details),
            source_line=n.sourceline,
            source_path=path,
            raw=etree.tostring(n, encoding="unicode", with_tail=False),
        )

    def _detail(self, tx: etree._Element, entry_direction: str, entry_ccy: str | None, path: str) -> TransactionDetail:
        p = self.p
        amt = self._amount(tx, "Amt", tx) or self._amount(tx, "AmtDtls/TxAmt/Amt", tx)
        ind = self._text(tx, "CdtDbtInd")
        direction = entry_direction
        if ind in ("CRDT", "DBIT"):
            direction = CREDIT if ind == "CRDT" else DEBIT
        amount = currency = None
        if amt is not None:
            amount = amt[0] if direction == CREDIT else -amt[0]
            currency = amt[1]
        parties = tx.find(p("RltdPties"))
        agents = tx.find(p("RltdAgts"))
        if entry_direction == CREDIT:  # money came from the debtor
            party = self._first(parties, "Dbtr", "UltmtDbtr")
            account = self._account_id(parties.find(p("DbtrAcct"))) if parties is not None else None
            bic = self._bic(agents.find(p("DbtrAgt"))) if agents is not None else None
        else:
            party = self._first(parties, "Cdtr", "UltmtCdtr")
            account = self._account_id(parties.find(p("CdtrAcct"))) if parties is not None else None
            bic = self._bic(agents.find(p("CdtrAgt"))) if agents is not None else None
        ustrd = [" ".join(u.text.split()) for u in tx.iterfind(p("RmtInf/Ustrd")) if u.text and u.text.strip()]
        structured = self._text(tx, "RmtInf/Strd/CdtrRefInf/Ref")
        rtr = tx.find(p("RtrInf"))
        code = self._bank_tx_code(tx)
        reason = None
        info = None
        if rtr is not None:
            reason = self._text(rtr, "Rsn/Cd") or self._text(rtr, "Rsn/Prtry")
            info = " ".join(t.strip() for t in (a.text or "" for a in rtr.iterfind(p("AddtlInf"))) if t.strip())
        is_return = rtr is not None or bool(code and code.is_return)
        e2e = self._text(tx, "Refs/EndToEndId")
        if e2e and e2e.upper() == "NOTPROVIDED":
            e2e = None
        orig_amount = orig_ccy = None
        instd = self._amount(tx, "AmtDtls/InstdAmt/Amt", tx)
        if instd:
            orig_amount, orig_ccy = instd
        rate = _decimal_or_none(
            self._text(tx, "AmtDtls/InstdAmt/CcyXchg/XchgRate") or self._text(tx, "AmtDtls/TxAmt/CcyXchg/XchgRate")
        )
        return TransactionDetail(
            amount=amount,
            currency=currency or (entry_ccy if amount is not None else None),
            direction=direction,
            end_to_end_id=e2e,
            instruction_id=self._text(tx, "Refs/InstrId"),
            payment_info_id=self._text(tx, "Refs/PmtInfId"),
            servicer_reference=self._text(tx, "Refs/AcctSvcrRef"),
            mandate_id=self._text(tx, "Refs/MndtId"),
            uetr=self._text(tx, "Refs/UETR"),
            counterparty_name=_squash(self._party_name(party)),
            counterparty_account=account,
            counterparty_bic=bic,
            remittance_text=" ".join(ustrd) or None,
            structured_reference=structured,
            bank_tx_code=code,
            is_return=is_return,
            return_reason=reason,
            return_info=info or None,
            original_end_to_end_id=(self._text(rtr, "OrgnlEndToEndId") or e2e) if is_return else None,
            original_amount=orig_amount,
            original_currency=orig_ccy,
            exchange_rate=rate,
            charges=self._charges(tx, tx),
            source_path=path,
        )

    def _first(self, parent: etree._Element | None, *names: str) -> etree._Element | None:
        if parent is None:
            return None
        for name in names:
            el = parent.find(self.p(name))
            if el is not None:
                return el
        return None


class _NoCode:
    raw = ""


_NO_CODE = _NoCode()


def _squash(text: str | None) -> str | None:
    return " ".join(text.split()) if text else text


def _decimal_or_none(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def parse_camt(reader: IO[bytes], fmt: str) -> Iterator[ParsedStatement]:
    return _CamtReader(reader, fmt).statements()
