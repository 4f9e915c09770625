"""SWIFT MT940 (customer statement) and MT942 (interim transaction report), streamed field by field.

Our own tokeniser (the ``mt-940`` package stops at many real-world quirks): it accepts
``{1:..}{2:..}{4:`` block wrappers and ``-}`` trailers, bank header lines before the first field (``ABNANL2A`` /
``940``), missing ``-`` terminators, a ``-`` that is really part of wrapped ``:86:`` text, CRLF/CR/LF, SOH/ETX
control characters, several statements per file, several ``:86:`` per ``:61:`` (old Rabobank), ``:86:`` after
``:62F:`` (statement information), ``:60M:``/``:62M:`` intermediate balances, comma or dot decimals.

``:61:`` is ``YYMMDD[MMDD](C|D|RC|RD)[funds code]amount[type code][customer ref][//bank ref][\\n supplementary]``;
the entry date (MMDD) takes the value date's year, moved across a year end when the months are > 6 apart.
``RC`` (reversal of a credit) is booked as a debit, ``RD`` as a credit; both set ``is_reversal``.

``:86:`` dialects:

* German/DK structured: ``GVC?00booking text?10primanota?20..?29 remittance?30 BLZ/BIC?31 account?32-33 name?34
  text-key extension`` (Triodos uses ``>`` instead of ``?``); SEPA keywords ``EREF+``, ``MREF+``, ``SVWZ+`` ... in
  the remittance are split out;
* Dutch structured (ING, ABN AMRO SEPA, bunq, SNS, Rabobank new): ``/TRTP/../NAME/../IBAN/../REMI/../EREF/..``,
  ING ``/CNTP/account/BIC/name/city/``, ``/RTRN/reason/``, ``/OCMT/USD2853,12/``;
* free text (ASN/SNS "IBAN name" first line, Knab, ABN AMRO legacy, mBank): kept as remittance text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import IO

from ._io import iter_line_blocks
from .detect import MT942
from .errors import ParseError
from .model import (
    BOOKED,
    CREDIT,
    DEBIT,
    END_OF_DAY,
    INTRADAY,
    EntryStream,
    ParsedEntry,
    ParsedStatement,
    make_stream,
    new_entry,
)
from .taxonomy import normalise_gvc, normalise_swift

_FIELD = re.compile(r"^:(\d{2}[A-Z]?):(.*)$")
_BLOCK_PREFIX = re.compile(r"^(\{[1-3]:[^}]*\})*\{4:")
_BALANCE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<ccy>[A-Z]{3})(?P<amount>\d[\d]*(?:[,.]\d*)?)$")
_LINE61 = re.compile(
    r"^(?P<vdate>\d{6})(?P<edate>\d{4}|\s{4})?(?P<mark>R?[CD]|E[CD])(?P<funds>[A-Z])?"
    r"(?P<amount>\d+(?:[,.]\d*)?)(?P<rest>.*)$"
)
_TYPE = re.compile(r"^([NFS][A-Z0-9]{3}|[NFS][A-Z]{2}(?= ))")
_GVC = re.compile(r"^\s*(\d{3})([?>])(\d\d)")
_NL_TAGS = (
    "TRTP|IBAN|BIC|NAME|REMI|EREF|PREF|MARF|CSID|CNTP|RTRN|BENM|ORDP|OCMT|SUM|ISDT|ULTC|ULTD|ULTB|PURP|ADDI|"
    "TRCD|CHGS|ACCW|BUSP|ID|INV"
)
_NL_TAG = re.compile(rf"/({_NL_TAGS})/")
_SEPA_KEYS = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|COAM|OAMT|PURP|RTRN)\+")
_LEADING_IBAN = re.compile(r"^([A-Z]{2}\d{2}[A-Z0-9]{8,30})\s+(.*)$")
_OCMT = re.compile(r"^([A-Z]{3})(\d+(?:[,.]\d*)?)")


@dataclass(slots=True)
class _Field:
    tag: str
    lines: list[str]
    line: int  # 1-based line number of the tag

    @property
    def first(self) -> str:
        return self.lines[0]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _fields(blocks: Iterator[tuple[int, list[str]]]) -> Iterator[_Field]:
    current: _Field | None = None
    pending_dash: list[tuple[int, str]] = []
    digits, upper = _DIGITS, _UPPER
    for number, lines in blocks:
        number -= 1
        for raw in lines:
            number += 1
            line = raw.replace("\x01", "").replace("\x03", "") if ("\x01" in raw or "\x03" in raw) else raw
            first = line[:1]
            # Fast paths for the two common lines; they do exactly what the general code below does for them.
            if first == ":":  # a field tag (or text that looks like one but is not: handled below)
                # ":20:" / ":60F:" read with str operations; anything else (Unicode digits) goes to the regex
                if line[3:4] == ":" and line[1] in digits and line[2] in digits:
                    tag, value = line[1:3], line[4:]
                elif line[4:5] == ":" and line[1] in digits and line[2] in digits and line[3] in upper:
                    tag, value = line[1:4], line[5:]
                else:
                    m = _FIELD.match(line)
                    if m is None:
                        tag = None
                    else:
                        tag, value = m.group(1), m.group(2)
                if tag is not None:
                    if pending_dash:
                        pending_dash.clear()
                    if current is not None:
                        yield current
                    current = _Field(tag, [value], number)
                    continue
            elif first and first not in "{-}" and not first.isspace():  # continuation text
                if pending_dash:
                    if current is not None:
                        current.lines.extend(d for _, d in pending_dash)
                    pending_dash.clear()
                if current is not None:
                    current.lines.append(line)
                continue
            if first == "{":
                m = _BLOCK_PREFIX.match(line)
                if m:
                    line = line[m.end() :]
                    if not line.strip():
                        pending_dash.clear()
                        continue
                elif line.strip().startswith(("{5:", "{1:")) or line.strip() == "{":
                    continue
            stripped = line.strip()
            if stripped.startswith("-") and (stripped.rstrip("}").rstrip() == "-" or stripped.startswith("-}")):
                # a block terminator, unless the next line continues the current field (ING wraps "MND-" like this)
                pending_dash.append((number, "-"))
                continue
            if stripped == "}" or (stripped.startswith("}") and not stripped.strip("}{5:")):
                continue
            m = _FIELD.match(line) if line[:1] == ":" else None
            if m:
                pending_dash.clear()
                if current is not None:
                    yield current
                current = _Field(m.group(1), [m.group(2)], number)
                continue
            if pending_dash:
                if current is not None and stripped:
                    current.lines.extend(d for _, d in pending_dash)
                    pending_dash.clear()
                elif not stripped:
                    continue
                else:
                    pending_dash.clear()
            if current is not None:
                current.lines.append(line)
            # lines before the first field (bank headers such as "ABNANL2A", "940", ":940:") are ignored
    if current is not None:
        yield current


class _Fields:
    """Field iterator with one field of push-back."""

    def __init__(self, it: Iterator[_Field]):
        self._it = it
        self._back: _Field | None = None

    def next(self) -> _Field | None:
        if self._back is not None:
            f, self._back = self._back, None
            return f
        return next(self._it, None)

    def push(self, f: _Field) -> None:
        self._back = f


def _year(yy: int) -> int:
    return 2000 + yy if yy < 80 else 1900 + yy


_DATES: dict[str, date] = {}


def _yymmdd(text: str, loc: str, what: str) -> date:
    try:
        return _DATES[text]
    except KeyError:
        pass
    try:
        value = date(_year(int(text[0:2])), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise ParseError(f"{what} {text!r} is not a valid YYMMDD date", loc) from None
    if len(_DATES) >= 4096:
        _DATES.clear()
    _DATES[text] = value
    return value


def _amount(text: str, loc: str) -> Decimal:
    try:
        return Decimal(text.replace(",", ".").rstrip(".") or "0")
    except InvalidOperation:
        raise ParseError(f"amount {text!r} is not a number; expected digits with a comma decimal", loc) from None


def _balance(f: _Field) -> tuple[Decimal, date, str]:
    loc = f"line {f.line}"
    value = f.first.strip()
    m = _BALANCE.match(value)
    if not m:
        raise ParseError(
            f":{f.tag}: balance {value!r} is malformed; expected C|D + YYMMDD + currency + amount, "
            "e.g. C230209EUR100,00",
            loc,
        )
    amount = _amount(m.group("amount"), loc)
    if m.group("mark") == "D":
        amount = -amount
    return amount, _yymmdd(m.group("date"), loc, "balance date"), m.group("ccy")


@dataclass
class _Header:
    line: int
    reference: str | None = None
    related: str | None = None
    account: str | None = None
    sequence: str | None = None
    opening: Decimal | None = None
    opening_date: date | None = None
    currency: str | None = None
    created_at: datetime | None = None
    floor_currency: str | None = None


def parse_mt940(reader: IO[bytes], fmt: str, *, keep_raw: bool = False) -> Iterator[ParsedStatement]:
    fields = _Fields(_fields(iter_line_blocks(reader)))
    kind = INTRADAY if fmt == MT942 else END_OF_DAY
    seen_any = False
    while True:
        f = fields.next()
        if f is None:
            break
        if f.tag != "20":
            if f.tag in ("61", "86", "60F", "60M", "62F", "62M", "25", "28C", "28"):
                raise ParseError(
                    f":{f.tag}: found outside a statement; expected a statement to start with :20: "
                    "(transaction reference), then :25: account and :60F: opening balance",
                    f"line {f.line}",
                )
            continue  # stray trailer fields between statements
        seen_any = True
        header = _Header(line=f.line, reference=f.first.strip() or None)
        # read header fields up to the first entry / closing balance
        while True:
            g = fields.next()
            if g is None:
                break
            tag = g.tag
            if tag == "21":
                header.related = g.first.strip() or None
            elif tag == "25":
                header.account = " ".join(s.strip() for s in g.lines if s.strip()) or None
            elif tag in ("28", "28C"):
                header.sequence = "".join(s.strip() for s in g.lines) or None
            elif tag in ("60F", "60M"):
                header.opening, header.opening_date, header.currency = _balance(g)
            elif tag == "34F":
                m = re.match(r"^([A-Z]{3})", g.first.strip())
                header.floor_currency = m.group(1) if m else None
            elif tag in ("13", "13D"):
                header.created_at = _datetime13(g.first.strip())
            else:
                fields.push(g)
                break
        if header.account is None:
            raise ParseError(
                ":25: account identification missing; expected it after :20:", f"line {header.line}"
            )
        if header.opening is None and fmt != MT942:
            raise ParseError(
                ":60F: opening balance missing; expected :60F: (or :60M:) after :25:/:28C:", f"line {header.line}"
            )
        currency = header.currency or header.floor_currency or _currency_suffix(header.account)
        stream = make_stream(lambda s, h=header, c=currency: _entries(fields, s, c, h, keep_raw), currency)
        statement = ParsedStatement(
            format=fmt,
            kind=kind,
            statement_id=header.reference,
            sequence=header.sequence,
            account=header.account,
            account_servicer=None,
            currency=currency,
            created_at=header.created_at,
            period_from=header.opening_date,
            period_to=None,
            opening_booked=header.opening,
            opening_available=None,
            entries=stream,
            message_id=header.related,
            source_line=header.line,
        )
        yield statement
        stream._drain()
    if not seen_any:
        raise ParseError(
            "no statement found: expected :20: followed by :25:, :28C:, :60F:, :61:/:86: entries and :62F:", "line 1"
        )


def _currency_suffix(account: str | None) -> str | None:
    if account:
        m = re.search(r"([A-Z]{3})$", account.replace(" ", ""))
        if m and not account.replace(" ", "").isalpha():
            return m.group(1)
    return None


def _datetime13(text: str) -> datetime | None:
    m = re.match(r"^(\d{6})(\d{2})(\d{2})([+-]\d{4})?", text)
    if not m:
        return None
    try:
        d = _yymmdd(m.group(1), "", "")
        tz = None
        if m.group(4):
            sign = 1 if m.group(4)[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(m.group(4)[1:3]), minutes=int(m.group(4)[3:5])))
        return datetime(d.year, d.month, d.day, int(m.group(2)), int(m.group(3)), tzinfo=tz)
    except (ParseError, ValueError):
        return None


def _entries(
    fields: _Fields, stream: EntryStream, currency: str | None, header: _Header, keep_raw: bool = False
) -> Iterator[ParsedEntry]:
    trailer = stream.trailer
    trailer.setdefault("closing_booked", None)
    trailer.setdefault("closing_available", None)
    info: list[str] = []
    nxt, push = fields.next, fields.push
    while True:
        f = nxt()
        if f is None:
            break
        tag = f.tag
        if tag == "61":
            details: list[_Field] = []
            while True:
                g = nxt()
                if g is None:
                    break
                if g.tag == "86":
                    details.append(g)
                    continue
                push(g)
                break
            yield _entry(f, details, currency, keep_raw)
        elif tag == "20":
            push(f)
            break
        elif tag in ("62F", "62M"):
            amount, when, _ = _balance(f)
            trailer["closing_booked"] = amount
            trailer["closing_date"] = when
        elif tag == "64":
            trailer["closing_available"] = _balance(f)[0]
        elif tag in ("65", "65F"):
            try:
                trailer.setdefault("forward_available", []).append(_balance(f))
            except ParseError:
                pass  # forward balances are informative only; some banks fill them with junk ("Dnullnull")
        elif tag == "86":
            info.append(f.text)
        elif tag in ("90D", "90C"):
            m = re.match(r"^(\d+)([A-Z]{3})(\d+(?:[,.]\d*)?)$", f.first.strip())
            if not m:
                raise ParseError(
                    f":{tag}: {f.first!r} is malformed; expected number of entries + currency + amount",
                    f"line {f.line}",
                )
            key = "debits" if tag == "90D" else "credits"
            trailer[f"reported_{key}_count"] = int(m.group(1))
            trailer[f"reported_{key}"] = _amount(m.group(3), f"line {f.line}")
        elif tag in ("25", "28C", "28", "60F", "60M"):
            raise ParseError(
                f":{tag}: found after the entries of the statement that started at line {header.line}; "
                "expected :20: to start a new statement",
                f"line {f.line}",
            )
        # other tags (e.g. :NS:, :34F: repeated) are ignored
    if info:
        trailer["information"] = "\n".join(info)


_ENTRY_DATES: dict[str, tuple[date, date]] = {}


def _entry_dates(vdate: str, edate: str | None, line: int) -> tuple[date, date]:
    """(value date, booking date) from ``:61:`` YYMMDD and optional MMDD, cached (a statement repeats its dates)."""
    key = vdate + (edate or "")
    try:
        return _ENTRY_DATES[key]
    except KeyError:
        pass
    loc = f"line {line}"
    value_date = _yymmdd(vdate, loc, "value date")
    booking_date = value_date
    edate = (edate or "").strip()
    if edate:
        try:
            month, day = int(edate[:2]), int(edate[2:])
            year = value_date.year
            if month - value_date.month > 6:
                year -= 1
            elif value_date.month - month > 6:
                year += 1
            booking_date = date(year, month, day)
        except ValueError:
            raise ParseError(f"entry date {edate!r} is not a valid MMDD date", loc) from None
    if len(_ENTRY_DATES) >= 4096:
        _ENTRY_DATES.clear()
    _ENTRY_DATES[key] = value_date, booking_date
    return value_date, booking_date


# :61: mark -> (is_reversal, is_credit): RC (reversal of a credit) is a debit, RD a credit; EC/ED as C/D
_MARKS = {
    "C": (False, True), "D": (False, False), "RC": (True, False), "RD": (True, True), "EC": (False, True),
    "ED": (False, False),
}  # fmt: skip
_WIDE_GAP = re.compile(r"\s{2,}")


def _entry(f: _Field, details: list[_Field], currency: str | None, keep_raw: bool = False) -> ParsedEntry:
    lines = f.lines
    first = lines[0]
    if "\r" in first:
        first = first.strip("\r")
    m = _LINE61.match(first)
    if not m:
        raise ParseError(
            f":61: statement line {first!r} is malformed; expected YYMMDD[MMDD] C|D|RC|RD amount type reference, "
            "e.g. 2302090209C2,00NTRFNONREF",
            f"line {f.line}",
        )
    vdate, edate, mark, _, amount_text, rest = m.groups()
    dates = _ENTRY_DATES.get(vdate + edate if edate else vdate)
    value_date, booking_date = dates if dates is not None else _entry_dates(vdate, edate, f.line)
    try:
        amount = Decimal(amount_text.replace(",", ".").rstrip(".") or "0")
    except InvalidOperation:
        amount = _amount(amount_text, f"line {f.line}")  # raises the ParseError that says why
    reversal, credit = _MARKS[mark]
    type_code = None
    if not rest.startswith("NONREF"):
        t = _TYPE.match(rest)
        if t:
            type_code = t.group(1)
            rest = rest[len(type_code) :]
    customer_ref = bank_ref = None
    extra: list[str] = []
    if "//" in rest:
        ref, _, after = rest.partition("//")
        customer_ref = ref.strip() or None
        after = after.strip()
        if after:
            parts = after.split(None, 1)
            bank_ref = parts[0]
            if len(parts) > 1:
                extra.append(parts[1])
    else:
        parts = _WIDE_GAP.split(rest.strip(), maxsplit=1)
        customer_ref = parts[0] or None
        if len(parts) > 1 and parts[1]:
            extra.append(parts[1])
    if customer_ref and customer_ref.upper() == "NONREF":
        customer_ref = None
    if bank_ref and bank_ref.upper() == "NONREF":
        bank_ref = None
    if len(lines) > 1:
        supplementary = []
        for line in lines[1:]:
            line = line.strip()
            if line:
                supplementary.append(line)
        if bank_ref and not extra and supplementary and bank_ref.isdigit() and supplementary[0].isdigit() and (
            len(bank_ref) + len(supplementary[0]) <= 16
        ):  # bank reference wrapped onto the next line (ING)
            bank_ref += supplementary.pop(0)
        extra.extend(supplementary)

    swift_code = normalise_swift(type_code) if type_code else None
    info = _parse86(details) if details else {}
    gvc = normalise_gvc(info["gvc"]) if "gvc" in info else None
    get = info.get
    return_reason = get("return_reason")
    is_return = bool((swift_code and swift_code.is_return) or (gvc and gvc.is_return) or return_reason)
    orig_amount = orig_ccy = None
    if get("ocmt"):
        o = _OCMT.match(info["ocmt"])
        if o:
            orig_ccy, orig_amount = o.group(1), _amount(o.group(2), f"line {f.line}")
    eref = get("eref")
    return new_entry(
        amount=amount if credit else -amount,
        currency=currency,
        direction=CREDIT if credit else DEBIT,
        status=BOOKED,
        booking_date=booking_date,
        value_date=value_date,
        bank_reference=bank_ref,
        customer_reference=customer_ref,
        end_to_end_id=eref,
        mandate_id=get("mref"),
        counterparty_name=get("name"),
        counterparty_account=get("account"),
        counterparty_bic=get("bic"),
        remittance_text=get("remittance"),
        structured_reference=get("structured"),
        additional_info=_additional_info(get("booking_text"), extra),
        bank_tx_code=gvc or swift_code,
        raw_type_code=(type_code or "") + (f" GVC {gvc.raw}" if gvc else "") or None,
        is_reversal=reversal,
        is_return=is_return,
        return_reason=return_reason,
        original_end_to_end_id=eref if is_return else None,
        original_amount=orig_amount,
        original_currency=orig_ccy,
        source_line=f.line,
        raw="\n".join([f":61:{f.text}"] + [f":86:{d.text}" for d in details]) if keep_raw else None,
    )


def _additional_info(booking_text: str | None, extra: list[str]) -> str | None:
    joined = " ".join(extra)
    if booking_text and joined:
        return f"{booking_text} {joined}"
    return booking_text or joined or None


def _parse86(details: list[_Field]) -> dict[str, str]:
    if not details:
        return {}
    if len(details) > 1:  # old Rabobank: one :86: per line of text
        return {"remittance": " ".join(" ".join(s.strip() for s in d.lines if s.strip()) for d in details)}
    lines = details[0].lines
    joined = "".join(lines)
    if joined[:1] != "/":  # a GVC starts with digits (after white space): Dutch "/TAG/" text never does
        g = _GVC.match(joined)
        if g:
            return _parse_gvc(joined, g.group(1), g.group(2))
    compact = joined.strip()
    if compact[:1] == "/":
        parts = _NL_TAG.split(compact)
        if len(parts) > 1:  # at least one Dutch tag
            return _parse_nl(parts)
    return _parse_free(lines)


def _parse_gvc(text: str, gvc: str, sep: str) -> dict[str, str]:
    out: dict[str, str] = {"gvc": gvc}
    body = text.strip()[3:]
    subfields: dict[str, list[str]] = {}
    for part in body.split(sep)[1:]:
        if len(part) >= 2 and part[:2].isdigit():
            subfields.setdefault(part[:2], []).append(part[2:])
    get = lambda k: "".join(subfields.get(k, [])).strip() or None  # noqa: E731
    if get("00"):
        out["booking_text"] = get("00")  # type: ignore[assignment]
    remittance = "".join("".join(subfields.get(f"{i:02d}", [])) for i in list(range(20, 30)) + list(range(60, 64)))
    bank = get("30")
    account = get("31")
    name = "".join(x for x in (get("32"), get("33")) if x)  # ?33 continues ?32 (27-character lines)
    if bank and re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", bank):
        out["bic"] = bank
    if account:
        out["account"] = account if (not bank or "bic" in out) else f"{bank}/{account}"
    if name:
        out["name"] = name
    if get("34"):
        out["text_key_extension"] = get("34")  # type: ignore[assignment]
    keys = list(_SEPA_KEYS.finditer(remittance))
    if keys:
        values: dict[str, str] = {}
        lead = remittance[: keys[0].start()].strip()
        for i, k in enumerate(keys):
            end = keys[i + 1].start() if i + 1 < len(keys) else len(remittance)
            values.setdefault(k.group(1), remittance[k.end() : end].strip())
        eref = values.get("EREF")
        if eref and eref.upper() != "NOTPROVIDED":
            out["eref"] = eref
        if values.get("MREF"):
            out["mref"] = values["MREF"]
        text = values.get("SVWZ") or lead or None
        if text:
            out["remittance"] = text
        if values.get("IBAN") and "account" not in out:
            out["account"] = values["IBAN"]
        if values.get("ABWA") and "name" not in out:
            out["name"] = values["ABWA"]
    elif remittance.strip():
        out["remittance"] = remittance.strip()
    if normalise_gvc(gvc) and normalise_gvc(gvc).is_return and get("34"):  # type: ignore[union-attr]
        out["return_reason"] = get("34")  # type: ignore[assignment]
    return out


def _nl_clean(value: str) -> str | None:
    return value.strip().strip("/").strip() or None


def _parse_nl(parts: list[str]) -> dict[str, str]:
    """``parts`` is the :86: text split on its tags: ``[before, tag, value, tag, value, ...]``; each value runs up
    to the next tag. A tag given twice counts the first time."""
    values = dict(zip(parts[-2:0:-2], parts[:0:-2]))  # pairs from the end: the first of a repeated tag wins
    out: dict[str, str] = {}
    get = values.get
    trtp = get("TRTP")
    if trtp is not None and (trtp := trtp.strip().strip("/").strip()):
        out["booking_text"] = trtp
    cntp = get("CNTP")
    if cntp is not None:  # ING: account/BIC/name/city
        sub = cntp.split("/")
        account = sub[0].strip()
        if account:
            out["account"] = account
        if len(sub) > 1:
            bic = sub[1].strip()
            if bic:
                out["bic"] = bic
            if len(sub) > 2:
                name = sub[2].strip()
                if name:
                    out["name"] = name
    if "IBAN" in values and "account" not in out and (v := _nl_clean(values["IBAN"])):
        out["account"] = v
    if "BIC" in values and "bic" not in out and (v := _nl_clean(values["BIC"])):
        out["bic"] = v
    if "NAME" in values and "name" not in out and (v := _nl_clean(values["NAME"])):
        out["name"] = v
    if "name" not in out and ("BENM" in values or "ORDP" in values):
        for tag in ("BENM", "ORDP"):
            if tag in values and "name" not in out:
                sub = [p.strip() for p in values[tag].split("/") if p.strip()]
                if sub:
                    if "account" not in out and re.fullmatch(r"[A-Z0-9]{6,34}", sub[0]):
                        out["account"] = sub[0]
                        sub = sub[1:]
                    if sub:
                        out["name"] = sub[0]
    remi = get("REMI")
    if remi is not None:
        if remi.startswith("USTD//"):
            v = remi[6:].strip().strip("/").strip()
        elif remi.startswith("STRD/"):
            v = None
            sub = remi[5:].split("/")
            ref = (sub[1] if len(sub) > 1 else sub[0]).strip()
            if ref:
                out["structured"] = ref
        else:
            v = remi.strip().strip("/").strip()
        if v:
            out["remittance"] = v
    eref = get("EREF")
    if eref is not None:
        eref = eref.strip().strip("/").strip()
        if eref and eref.upper() != "NOTPROVIDED":
            out["eref"] = eref
    marf = get("MARF")
    if marf is not None and (marf := marf.strip().strip("/").strip()):
        out["mref"] = marf
    if "RTRN" in values:
        out["return_reason"] = _nl_clean(values["RTRN"]) or "RTRN"
    if "OCMT" in values:
        out["ocmt"] = values["OCMT"].strip("/")
    return out


def _parse_free(lines: list[str]) -> dict[str, str]:
    parts = [s.strip() for s in lines]
    out: dict[str, str] = {}
    first = parts[0] if parts else ""
    m = _LEADING_IBAN.match(first)
    if m:  # ASN/SNS/Triodos: "NL29INGB0006475121 j blom" then the description
        out["account"], out["name"] = m.group(1), m.group(2).strip()
        parts = parts[1:]
    text = " ".join(p for p in parts if p)
    if text:
        out["remittance"] = text
    return out
