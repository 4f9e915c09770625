"""ISO 20022 camt.052 (intraday report), camt.053 (statement), camt.054 (debit/credit notification).

Streaming: ``lxml.etree.iterparse`` sees only the statement-level elements (``Stmt``/``Rpt``/``Ntfctn``,
``Ntry``, ``GrpHdr`` and the message element), so Python touches a handful of events per entry. Each ``Ntry``
is turned into a :class:`ParsedEntry` on its end tag and then cleared and detached with its preceding siblings,
which keeps memory flat for any number of entries. The statement header (everything before the first ``Ntry``:
Id, sequence numbers, account, balances) is complete when the first ``Ntry`` starts; that is when the
statement is yielded.

Speed: an entry is read with one pass over its subtree (:func:`_index`), guided by a tree of the
namespace-qualified element paths the parser uses (built once per namespace), instead of one ElementPath
``find`` per field. ``raw`` (the entry's XML) is serialised only with ``keep_raw=True``.

Hostile XML: the prolog is checked for DOCTYPE/ENTITY declarations before parsing (see
``detect.check_xml_prolog``), and the parser itself runs with ``resolve_entities=False, no_network=True,
load_dtd=False, huge_tree=False``; a DOCTYPE that slipped past the prolog check is refused at the first event.

Versions: any ``camt.05x.001.NN`` namespace, or none. Differences handled: ``Sts`` as text (v2-v6) or
``Sts/Cd`` (v8+); party as ``Dbtr/Nm`` (<= v6) or ``Dbtr/Pty/Nm`` (v8+); BIC in ``BIC`` (v2) or ``BICFI``
(v4+); transaction amount in ``TxDtls/Amt`` (v4+) or ``AmtDtls/TxAmt/Amt`` (v2); charges as ``Chrgs`` list (v2) or
``Chrgs/Rcrd`` (v4+). Version 01 (``BkToCstmrAcctRptV01`` etc.) predates the published schemas and is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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
    new_charge,
    new_entry,
    new_transaction,
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


# Element paths (relative to an entry / a transaction) that the fast readers look up; see _index().
_NTRY_PATHS = (
    "NtryRef", "Amt", "CdtDbtInd", "RvslInd", "Sts", "Sts/Cd", "Sts/Prtry", "BookgDt/Dt", "BookgDt/DtTm",
    "ValDt/Dt", "ValDt/DtTm", "AcctSvcrRef", "BkTxCd", "BkTxCd/Domn/Cd", "BkTxCd/Domn/Fmly/Cd",
    "BkTxCd/Domn/Fmly/SubFmlyCd", "BkTxCd/Prtry/Cd", "AddtlNtryInf", "AmtDtls/InstdAmt/Amt",
    "AmtDtls/InstdAmt/CcyXchg/XchgRate", "AmtDtls/TxAmt/CcyXchg/XchgRate", "Chrgs", "NtryDtls/TxDtls",
)  # fmt: skip
_NTRY_MULTI = frozenset({"Chrgs", "NtryDtls/TxDtls"})
_NTRY_ELEMENTS = frozenset({"Amt", "AmtDtls/InstdAmt/Amt"})
# (party, ultimate party, party account, party agent) of the counterparty: [debit entry, credit entry]
_SIDES = (
    ("RltdPties/Cdtr", "RltdPties/UltmtCdtr", "RltdPties/CdtrAcct", "RltdAgts/CdtrAgt"),
    ("RltdPties/Dbtr", "RltdPties/UltmtDbtr", "RltdPties/DbtrAcct", "RltdAgts/DbtrAgt"),
)
_NAME_KEYS = {
    p: (f"{p}/Nm", f"{p}/Pty/Nm", f"{p}/Agt/FinInstnId/Nm") for side in _SIDES for p in side[:2]
}  # like _CamtReader._party_name
_ACCOUNT_KEYS = {side[2]: tuple(f"{side[2]}/Id/{k}" for k in ("IBAN", "Othr/Id", "PrxyId/Id")) for side in _SIDES}
_BIC_KEYS = {side[3]: (f"{side[3]}/FinInstnId/BICFI", f"{side[3]}/FinInstnId/BIC") for side in _SIDES}
_TX_PATHS = (
    "Amt", "AmtDtls/TxAmt/Amt", "CdtDbtInd", "Refs/EndToEndId", "Refs/InstrId", "Refs/PmtInfId",
    "Refs/AcctSvcrRef", "Refs/MndtId", "Refs/UETR", "RmtInf/Ustrd", "RmtInf/Strd/CdtrRefInf/Ref", "RtrInf",
    "BkTxCd", "BkTxCd/Domn/Cd", "BkTxCd/Domn/Fmly/Cd", "BkTxCd/Domn/Fmly/SubFmlyCd", "BkTxCd/Prtry/Cd",
    "AmtDtls/InstdAmt/Amt", "AmtDtls/InstdAmt/CcyXchg/XchgRate", "AmtDtls/TxAmt/CcyXchg/XchgRate", "Chrgs",
    *(p for side in _SIDES for p in side[:2]),
    *(k for keys in (*_NAME_KEYS.values(), *_ACCOUNT_KEYS.values(), *_BIC_KEYS.values()) for k in keys),
)  # fmt: skip
_TX_MULTI = frozenset({"Chrgs", "RmtInf/Ustrd"})
_TX_ELEMENTS = frozenset({"Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt", "RtrInf"})

# What _index() stores for a path: its stripped text (None when blank), the element, or a list of all elements.
_TEXT, _ELEMENT, _ALL = 0, 1, 2
# trie node: {qualified tag: (path or None, child node or None, one of _TEXT/_ELEMENT/_ALL)}
_Trie = dict[str, tuple[str | None, "dict | None", int]]
_TRIES: dict[tuple[str, str], _Trie] = {}


def _trie(ns: str, kind: str) -> _Trie:
    """The paths of ``kind`` ("Ntry" / "TxDtls") as a tree keyed by namespace-qualified tag, cached per namespace."""
    trie = _TRIES.get((ns, kind))
    if trie is not None:
        return trie
    paths, multi, elements = (
        (_NTRY_PATHS, _NTRY_MULTI, _NTRY_ELEMENTS) if kind == "Ntry" else (_TX_PATHS, _TX_MULTI, _TX_ELEMENTS)
    )
    root: dict = {}
    for path in paths:
        node = root
        steps = path.split("/")
        for i, step in enumerate(steps):
            tag = f"{{{ns}}}{step}" if ns else step
            slot = node.setdefault(tag, [None, None, _TEXT])
            if i == len(steps) - 1:
                slot[0], slot[2] = path, _ALL if path in multi else _ELEMENT if path in elements else _TEXT
            else:
                if slot[1] is None:
                    slot[1] = {}
                node = slot[1]

    def freeze(node: dict) -> _Trie:
        return {tag: (key, freeze(sub) if sub is not None else None, how) for tag, (key, sub, how) in node.items()}

    trie = _TRIES[(ns, kind)] = freeze(root)
    return trie


def _index(el: etree._Element, trie: _Trie, out: dict) -> dict:
    """One pass over ``el``'s subtree, entering only the trie's branches. For each trie path ``out[path]`` is, from
    the first element there in document order (like ``find``): its stripped text or None when blank (``_TEXT``,
    like ``_CamtReader._text``), or the element itself (``_ELEMENT``); or the list of all elements there
    (``_ALL``, like ``findall``). A path that is absent is not in ``out``."""
    for child in el:
        slot = trie.get(child.tag)
        if slot is None:
            continue
        key, sub, how = slot
        if key is not None:
            if how == _TEXT:
                if key not in out:
                    text = child.text
                    out[key] = (text.strip() or None) if text else None
            elif how == _ELEMENT:
                if key not in out:
                    out[key] = child
            else:
                found = out.get(key)
                if found is None:
                    out[key] = [child]
                else:
                    found.append(child)
        if sub is not None:
            _index(child, sub, out)
    return out


def _first_text(get: Callable[[str], str | None], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        text = get(key)
        if text:
            return text
    return None


def _bank_tx_code_of(ix: dict) -> BankTransactionCode | None:
    if "BkTxCd" not in ix:
        return None
    get = ix.get
    return normalise_iso(
        get("BkTxCd/Domn/Cd"), get("BkTxCd/Domn/Fmly/Cd"), get("BkTxCd/Domn/Fmly/SubFmlyCd"), get("BkTxCd/Prtry/Cd")
    )


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


_DATES: dict[str, date | None] = {}


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return _DATES[text]
    except KeyError:
        pass
    value = _parse_date(text)
    if len(text) <= 40:  # cache what a date can look like; the text comes from the file
        if len(_DATES) >= 4096:
            _DATES.clear()
        _DATES[text] = value
    return value


def _parse_date(text: str) -> date | None:
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
    def __init__(self, reader: IO[bytes], fmt: str, keep_raw: bool = False):
        self.reader = reader
        self.fmt = fmt
        self.keep_raw = keep_raw
        self.family = family(fmt)
        self._set_namespace("")
        self.message: etree._Element | None = None
        self.message_id: str | None = None
        self.created_at: datetime | None = None

    def _set_namespace(self, ns: str) -> None:
        self.p = _Paths(ns)
        self._ntry_tag = f"{{{ns}}}Ntry" if ns else "Ntry"
        self._ntry_trie = _trie(ns, "Ntry")
        self._tx_trie = _trie(ns, "TxDtls")

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
        return self._amount_of(el.find(self.p(path)), path, where)

    def _amount_of(
        self, amt: etree._Element | None, path: str, where: etree._Element
    ) -> tuple[Decimal, str | None] | None:
        """``(value, currency)`` of an ``<Amt Ccy=..>`` element; ``path`` names it in error messages."""
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

    def _charges_of(self, chrgs_elements: Iterable[etree._Element] | None, where: etree._Element) -> tuple[Charge, ...]:
        if not chrgs_elements:
            return ()
        out: list[Charge] = []
        for chrgs in chrgs_elements:
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
                    new_charge(
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
                self._set_namespace(ns)
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
        ntry_tag = self._ntry_tag
        for event, el in self._events:
            if event == "end":
                if el is stmt:
                    self._free(stmt)
                    return
                if el.tag == ntry_tag and el.getparent() is stmt:
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
        ix = _index(n, self._ntry_trie, {})
        get = ix.get
        path = f"{ctx['stmt_path']}/Ntry[{index}]"
        amt = self._amount_of(ix.get("Amt"), "Amt", n)
        if amt is None:
            raise ParseError("entry has no <Amt Ccy=...>: expected the entry amount", f"line {n.sourceline}, {path}")
        value, ccy = amt
        indicator = get("CdtDbtInd")
        if indicator == "CRDT":
            direction = CREDIT
        elif indicator == "DBIT":
            direction = DEBIT
        else:
            try:
                direction = self._sign(indicator, n)
            except ParseError as exc:
                raise ParseError(exc.reason, f"line {n.sourceline}, {path}") from None
        signed = value if direction == CREDIT else -value
        if "Sts" not in ix:
            status = BOOKED
        else:
            status_code = get("Sts/Cd") or get("Sts/Prtry") or get("Sts") or ""
            status = _STATUS.get(status_code.upper(), BOOKED if not status_code else INFO)
        reversal = (get("RvslInd") or "").lower() in ("true", "1")
        code = _bank_tx_code_of(ix)

        txs = ix.get("NtryDtls/TxDtls")
        if txs:
            details = [
                self._detail(tx, direction, ccy, f"{path}/TxDtls[{t_index}]") for t_index, tx in enumerate(txs, 1)
            ]
        else:
            details = []

        orig_amount = orig_ccy = rate = None
        if "AmtDtls/InstdAmt/Amt" in ix:
            instd = ix["AmtDtls/InstdAmt/Amt"]
            orig_amount, orig_ccy = self._amount_of(instd, "AmtDtls/InstdAmt/Amt", n)  # type: ignore[misc]
        rate_text = get("AmtDtls/InstdAmt/CcyXchg/XchgRate") or get("AmtDtls/TxAmt/CcyXchg/XchgRate")
        if rate_text:
            rate = _decimal_or_none(rate_text)

        charges = self._charges_of(ix.get("Chrgs"), n)
        if len(details) == 1:
            single = details[0]
            is_return = bool(code and code.is_return) or single.is_return
            if orig_amount is None and single.original_amount is not None:
                orig_amount, orig_ccy = single.original_amount, single.original_currency
            if rate is None:
                rate = single.exchange_rate
            tx_code = code or single.bank_tx_code
            return new_entry(
                amount=signed,
                currency=ccy,
                direction=direction,
                status=status,
                booking_date=_date(get("BookgDt/Dt") or get("BookgDt/DtTm")),
                value_date=_date(get("ValDt/Dt") or get("ValDt/DtTm")),
                bank_reference=get("NtryRef"),
                servicer_reference=get("AcctSvcrRef") or single.servicer_reference,
                customer_reference=single.instruction_id,
                end_to_end_id=single.end_to_end_id,
                mandate_id=single.mandate_id,
                counterparty_name=single.counterparty_name,
                counterparty_account=single.counterparty_account,
                counterparty_bic=single.counterparty_bic,
                remittance_text=single.remittance_text,
                structured_reference=single.structured_reference,
                additional_info=_squash(get("AddtlNtryInf")),
                bank_tx_code=tx_code,
                raw_type_code=tx_code.raw or None if tx_code is not None else None,
                is_reversal=reversal,
                is_return=is_return,
                return_reason=single.return_reason or None,
                original_end_to_end_id=single.original_end_to_end_id,
                original_amount=orig_amount,
                original_currency=orig_ccy,
                exchange_rate=rate,
                charges=charges + single.charges if single.charges else charges,
                transactions=(single,),
                source_line=n.sourceline,
                source_path=path,
                raw=etree.tostring(n, encoding="unicode", with_tail=False) if self.keep_raw else None,
            )
        is_return = bool(code and code.is_return) or any(d.is_return for d in details)
        return new_entry(
            amount=signed,
            currency=ccy,
            direction=direction,
            status=status,
            booking_date=_date(get("BookgDt/Dt") or get("BookgDt/DtTm")),
            value_date=_date(get("ValDt/Dt") or get("ValDt/DtTm")),
            bank_reference=get("NtryRef"),
            servicer_reference=get("AcctSvcrRef"),
            additional_info=_squash(get("AddtlNtryInf")),
            bank_tx_code=code,
            raw_type_code=code.raw or None if code is not None else None,
            is_reversal=reversal,
            is_return=is_return,
            return_reason=next((d.return_reason for d in details if d.return_reason), None),
            original_amount=orig_amount,
            original_currency=orig_ccy,
            exchange_rate=rate,
            charges=charges,
            transactions=tuple(details),
            source_line=n.sourceline,
            source_path=path,
            raw=etree.tostring(n, encoding="unicode", with_tail=False) if self.keep_raw else None,
        )

    def _detail(self, tx: etree._Element, entry_direction: str, entry_ccy: str | None, path: str) -> TransactionDetail:
        ix = _index(tx, self._tx_trie, {})
        get = ix.get
        amt = self._amount_of(ix.get("Amt"), "Amt", tx) or self._amount_of(
            ix.get("AmtDtls/TxAmt/Amt"), "AmtDtls/TxAmt/Amt", tx
        )
        ind = get("CdtDbtInd")
        direction = entry_direction
        if ind in ("CRDT", "DBIT"):
            direction = CREDIT if ind == "CRDT" else DEBIT
        amount = currency = None
        if amt is not None:
            amount = amt[0] if direction == CREDIT else -amt[0]
            currency = amt[1]
        party_key, ultimate_key, account_key, agent_key = _SIDES[entry_direction == CREDIT]
        # money came from the debtor on a credit, went to the creditor on a debit
        party = party_key if party_key in ix else ultimate_key if ultimate_key in ix else None
        iban, other_id, proxy_id = _ACCOUNT_KEYS[account_key]
        bicfi, bic = _BIC_KEYS[agent_key]
        ustrd = ix.get("RmtInf/Ustrd")
        remittance = None
        if ustrd:
            remittance = " ".join([" ".join(u.text.split()) for u in ustrd if u.text and u.text.strip()]) or None
        rtr = ix.get("RtrInf")
        code = _bank_tx_code_of(ix)
        reason = None
        info = None
        if rtr is not None:
            reason = self._text(rtr, "Rsn/Cd") or self._text(rtr, "Rsn/Prtry")
            info = " ".join(t.strip() for t in (a.text or "" for a in rtr.iterfind(self.p("AddtlInf"))) if t.strip())
        is_return = rtr is not None or bool(code and code.is_return)
        e2e = get("Refs/EndToEndId")
        if e2e and e2e.upper() == "NOTPROVIDED":
            e2e = None
        orig_amount = orig_ccy = None
        if "AmtDtls/InstdAmt/Amt" in ix:
            instd = ix["AmtDtls/InstdAmt/Amt"]
            orig_amount, orig_ccy = self._amount_of(instd, "AmtDtls/InstdAmt/Amt", tx)  # type: ignore[misc]
        rate_text = get("AmtDtls/InstdAmt/CcyXchg/XchgRate") or get("AmtDtls/TxAmt/CcyXchg/XchgRate")
        return new_transaction(
            amount=amount,
            currency=currency or (entry_ccy if amount is not None else None),
            direction=direction,
            end_to_end_id=e2e,
            instruction_id=get("Refs/InstrId"),
            payment_info_id=get("Refs/PmtInfId"),
            servicer_reference=get("Refs/AcctSvcrRef"),
            mandate_id=get("Refs/MndtId"),
            uetr=get("Refs/UETR"),
            counterparty_name=_squash(_first_text(get, _NAME_KEYS[party])) if party else None,
            counterparty_account=get(iban) or get(other_id) or get(proxy_id),
            counterparty_bic=get(bicfi) or get(bic),
            remittance_text=remittance,
            structured_reference=get("RmtInf/Strd/CdtrRefInf/Ref"),
            bank_tx_code=code,
            is_return=is_return,
            return_reason=reason,
            return_info=info or None,
            original_end_to_end_id=(self._text(rtr, "OrgnlEndToEndId") or e2e) if is_return else None,
            original_amount=orig_amount,
            original_currency=orig_ccy,
            exchange_rate=_decimal_or_none(rate_text) if rate_text else None,
            charges=self._charges_of(ix.get("Chrgs"), tx),
            source_path=path,
        )


def _squash(text: str | None) -> str | None:
    return " ".join(text.split()) if text else text


def _decimal_or_none(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def parse_camt(reader: IO[bytes], fmt: str, *, keep_raw: bool = False) -> Iterator[ParsedStatement]:
    return _CamtReader(reader, fmt, keep_raw).statements()
