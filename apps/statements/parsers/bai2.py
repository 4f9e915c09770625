"""BAI2 (Cash Management Balance Reporting, version 2), streamed record by record.

Records: ``01`` file header, ``02`` group header (as-of date, currency), ``03`` account identifier with summary
and status amounts, ``16`` transaction detail, ``88`` continuation, ``49`` account / ``98`` group / ``99`` file
trailers. One :class:`ParsedStatement` per ``03`` account section.

Our own tokeniser (the ``bai2`` package refuses several real files) copes with: several records on one
physical line (``.../ 16,...``), records without the ``/`` terminator, ``16`` text wrapped onto a physical line
that is not an ``88``, newline-delimited ``88`` continuations (``88,EREF: 1111``), blank trailer amounts,
``2400`` as a time. The ``bai2`` package's type-code table supplies descriptions (see ``taxonomy``).

Amounts are integers in the currency's minor unit (2 decimals for USD, 0 for JPY, 3 for KWD); the currency is
the ``03`` record's, else the group's, else USD. Balances: ``010`` opening ledger, ``015`` closing ledger, ``040``
opening available, ``045`` closing available (``060`` current available is kept in ``balances``). Detail type
codes give the direction: 100-399 and 920-959 credit, 400-699 and 960-999 debit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO

from ._io import iter_lines, minor_units
from .errors import ParseError
from .model import (
    BOOKED,
    CREDIT,
    DEBIT,
    END_OF_DAY,
    INFO,
    INTRADAY,
    EntryStream,
    ParsedEntry,
    ParsedStatement,
    make_stream,
    new_entry,
)
from .taxonomy import normalise_bai

_CODES = ("01", "02", "03", "16", "49", "88", "98", "99")
_RECORD_START = re.compile(r"^(01|02|03|16|49|88|98|99),")
_SPLIT = re.compile(r"/\s+(?=(?:01|02|03|16|49|88|98|99),)")
_KV = re.compile(r"^([A-Z]{4}):\s?(.*)$")


@dataclass
class _Record:
    code: str
    text: str  # without the record code and comma
    line: int
    continuations: list[str] = field(default_factory=list)

    def fields(self) -> list[str]:
        """Comma fields with 88 continuations appended (for non-16 records)."""
        body = _strip_slash(self.text)
        for c in self.continuations:
            body += "," + _strip_slash(c)
        return body.split(",")


def _strip_slash(text: str) -> str:
    text = text.rstrip()
    return text[:-1] if text.endswith("/") else text


def _records(lines: Iterator[tuple[int, str]]) -> Iterator[_Record]:
    current: _Record | None = None
    for number, line in lines:
        if not line.strip():
            continue
        for i, piece in enumerate(_SPLIT.split(line.strip())):
            m = _RECORD_START.match(piece)
            if not m:
                if i == 0 and current is not None:  # a 16 text wrapped onto the next physical line
                    if current.continuations:
                        current.continuations[-1] += " " + piece.strip()
                    else:
                        current.text += " " + piece.strip()
                    continue
                raise ParseError(
                    f"record {piece[:20]!r} does not start with a BAI2 record code; expected one of "
                    f"{', '.join(_CODES)} followed by a comma",
                    f"line {number}",
                )
            code = m.group(1)
            body = piece[3:]
            if code == "88":
                if current is None:
                    raise ParseError("continuation record 88 with nothing to continue", f"line {number}")
                current.continuations.append(body)
                continue
            if current is not None:
                yield current
            current = _Record(code, body, number)
    if current is not None:
        yield current


class _Records:
    def __init__(self, it: Iterator[_Record], keep_raw: bool = False):
        self._it = it
        self._back: _Record | None = None
        self.keep_raw = keep_raw

    def next(self) -> _Record | None:
        if self._back is not None:
            r, self._back = self._back, None
            return r
        return next(self._it, None)

    def push(self, r: _Record) -> None:
        self._back = r


def _date(text: str, loc: str, what: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{6}", text):
        raise ParseError(f"{what} {text!r} is not a YYMMDD date", loc)
    try:
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise ParseError(f"{what} {text!r} is not a valid YYMMDD date", loc) from None


def _time(text: str) -> time | None:
    text = text.strip()
    if not re.fullmatch(r"\d{4}", text):
        return None
    hh, mm = int(text[:2]), int(text[2:])
    if hh == 24 and mm == 0:  # BAI "2400" = end of day
        return time(23, 59, 59)
    if hh > 23 or mm > 59:
        return None
    return time(hh, mm)


def _amount(text: str, currency: str, loc: str, what: str = "amount") -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ParseError(f"{what} {text!r} is not a whole number of minor units (BAI2 amounts have no decimal point)", loc)
    return Decimal(int(text)).scaleb(-minor_units(currency))


@dataclass
class _FileHeader:
    sender: str | None = None
    receiver: str | None = None
    created_at: datetime | None = None
    file_id: str | None = None
    currency: str = "USD"


@dataclass
class _Group:
    originator: str | None
    as_of: date | None
    as_of_time: time | None
    currency: str
    kind: str


def parse_bai2(reader: IO[bytes], *, keep_raw: bool = False) -> Iterator[ParsedStatement]:
    records = _Records(_records(iter_lines(reader)), keep_raw)
    first = records.next()
    if first is None:
        raise ParseError("the file is empty; expected a BAI2 file header record '01,...'", "line 1")
    if first.code != "01":
        raise ParseError(
            f"expected the BAI2 file header record '01' first, found '{first.code}'", f"line {first.line}"
        )
    f = first.fields()
    loc = f"line {first.line}"
    if len(f) < 5:
        raise ParseError(
            "file header needs sender, receiver, creation date, creation time and file id: "
            "01,sender,receiver,YYMMDD,HHMM,fileid,...",
            loc,
        )
    created_d = _date(f[2], loc, "file creation date")
    created_t = _time(f[3])
    header = _FileHeader(
        sender=f[0].strip() or None,
        receiver=f[1].strip() or None,
        created_at=datetime.combine(created_d, created_t or time()) if created_d else None,
        file_id=f[4].strip() or None,
    )
    group: _Group | None = None
    accounts = 0
    ended = False
    while True:
        r = records.next()
        if r is None:
            break
        loc = f"line {r.line}"
        if ended:
            raise ParseError(f"record '{r.code}' after the file trailer '99'", loc)
        if r.code == "02":
            g = r.fields()
            if len(g) < 4:
                raise ParseError("group header needs receiver, originator, status, as-of date: 02,rcv,orig,1,YYMMDD,...", loc)
            modifier = g[6].strip() if len(g) > 6 else ""
            currency = (g[5].strip() if len(g) > 5 else "") or header.currency
            group = _Group(
                originator=g[1].strip() or None,
                as_of=_date(g[3], loc, "as-of date"),
                as_of_time=_time(g[4]) if len(g) > 4 else None,
                currency=currency.upper(),
                kind=INTRADAY if modifier in ("3", "4") else END_OF_DAY,
            )
        elif r.code == "03":
            if group is None:
                raise ParseError("account record '03' before any group header '02'", loc)
            accounts += 1
            statement = _statement(r, group, header, records)
            yield statement
            statement.entries._drain()
        elif r.code == "98":
            group = None
        elif r.code == "99":
            ended = True
        elif r.code in ("16", "49"):
            raise ParseError(f"record '{r.code}' outside an account section; expected '03' first", loc)
    if accounts == 0 and not ended:
        raise ParseError("no account record '03' and no file trailer '99' found", "line 1")


def _statement(r: _Record, group: _Group, header: _FileHeader, records: _Records) -> ParsedStatement:
    loc = f"line {r.line}"
    f = r.fields()
    account = f[0].strip()
    if not account:
        raise ParseError("account record '03' has no account number", loc)
    currency = ((f[1].strip() if len(f) > 1 else "") or group.currency).upper()
    balances = []
    found: dict[str, Decimal] = {}
    i = 2
    while i < len(f):
        type_code = f[i].strip()
        amount_text = f[i + 1] if i + 1 < len(f) else ""
        funds = (f[i + 3].strip().upper() if i + 3 < len(f) else "")
        i += 4
        if funds == "S":
            i += 3
        elif funds == "V":
            i += 2
        elif funds == "D":
            try:
                n = int(f[i].strip() or "0")
            except ValueError:
                raise ParseError(f"distribution count {f[i]!r} after funds type D is not a number", loc) from None
            i += 1 + 2 * n
        if not type_code:
            continue
        amount = _amount(amount_text, currency, loc, f"amount for type code {type_code}")
        if amount is None:
            continue
        balances.append((type_code, amount, currency, group.as_of))
        found.setdefault(type_code, amount)

    def entries(stream: EntryStream) -> Iterator[ParsedEntry]:
        stream.trailer["closing_booked"] = found.get("015")
        stream.trailer["closing_available"] = found.get("045")
        while True:
            rec = records.next()
            if rec is None:
                raise ParseError(
                    f"file ended inside the account section for {account} (line {r.line}); expected trailer '49'",
                    "end of file",
                )
            if rec.code == "16":
                yield _entry(rec, currency, group, records.keep_raw)
            elif rec.code == "49":
                t = rec.fields()
                if t and t[0].strip():
                    stream.trailer["reported_control_total"] = _amount(t[0], currency, f"line {rec.line}", "control total")
                return
            else:
                raise ParseError(
                    f"record '{rec.code}' inside the account section for {account}; expected '16' details or the "
                    "account trailer '49'",
                    f"line {rec.line}",
                )

    stream = make_stream(entries, currency)
    return ParsedStatement(
        format="bai2",
        kind=group.kind,
        statement_id=f"{group.as_of:%Y%m%d}-{account}" if group.as_of else account,
        sequence=header.file_id,
        account=account,
        account_servicer=group.originator,
        currency=currency,
        created_at=header.created_at,
        period_from=group.as_of,
        period_to=group.as_of,
        opening_booked=found.get("010"),
        opening_available=found.get("040"),
        entries=stream,
        balances=tuple(balances),
        source_line=r.line,
    )


def _entry(rec: _Record, currency: str, group: _Group, keep_raw: bool = False) -> ParsedEntry:
    loc = f"line {rec.line}"
    conts = list(rec.continuations)
    parts = _strip_slash(rec.text).split(",")

    def needed(p: list[str]) -> int:
        funds = p[2].strip().upper() if len(p) > 2 else ""
        idx = 3
        if funds == "S":
            idx += 3
        elif funds == "V":
            idx += 2
        elif funds == "D" and len(p) > 3:
            try:
                idx += 1 + 2 * int(p[3].strip() or "0")
            except ValueError:
                raise ParseError(f"distribution count {p[3]!r} after funds type D is not a number", loc) from None
        return idx

    # the refs may continue into the first 88 when the funds fields filled the 16 record
    while len(parts) < needed(parts) + 2 and conts:
        parts += _strip_slash(conts.pop(0)).split(",")
    if len(parts) < 2:
        raise ParseError("transaction detail needs at least a type code and an amount: 16,type,amount,...", loc)
    type_code = parts[0].strip()
    if not re.fullmatch(r"\d{3}", type_code):
        raise ParseError(f"type code {type_code!r} is not three digits", loc)
    amount = _amount(parts[1], currency, loc)
    if amount is None:
        raise ParseError(f"transaction detail with type code {type_code} has no amount", loc)
    idx = needed(parts)
    value_date = None
    if (parts[2].strip().upper() if len(parts) > 2 else "") == "V" and len(parts) > 3:
        value_date = _date(parts[3], loc, "value date")
    bank_ref = parts[idx].strip() if len(parts) > idx else ""
    cust_ref = parts[idx + 1].strip() if len(parts) > idx + 1 else ""
    text = ",".join(parts[idx + 2 :]).strip() if len(parts) > idx + 2 else ""
    kv: dict[str, str] = {}
    free: list[str] = [text] if text else []
    for c in conts:
        c = _strip_slash(c).strip()
        m = _KV.match(c)
        if m:
            kv.setdefault(m.group(1), m.group(2).strip())
        elif c:
            free.append(c)
    code = normalise_bai(type_code)
    direction = code.direction if code else None
    status = BOOKED
    if direction is None:
        status = INFO  # a status/non-monetary code used as a detail
        direction = CREDIT
    signed = amount if direction == CREDIT else -amount
    if direction == CREDIT:
        name, account = kv.get("DBNM"), kv.get("DACT")
    else:
        name, account = kv.get("CRNM"), kv.get("CACT")
    eref = kv.get("EREF") or None
    raw = ("16," + rec.text + "".join("\n88," + c for c in rec.continuations)) if keep_raw else None
    return new_entry(
        amount=signed,
        currency=currency,
        direction=direction if direction == CREDIT else DEBIT,
        status=status,
        booking_date=group.as_of,
        value_date=value_date or group.as_of,
        bank_reference=bank_ref or None,
        customer_reference=cust_ref or None,
        end_to_end_id=eref,
        counterparty_name=name or None,
        counterparty_account=account or None,
        remittance_text=kv.get("REMI") or (" ".join(free) or None),
        additional_info=" ".join(free) or None,
        bank_tx_code=code,
        raw_type_code=type_code,
        is_reversal=bool(code and code.is_reversal),
        is_return=bool(code and code.is_return),
        source_line=rec.line,
        raw=raw,
    )
