"""CSV statements, read through an explicit :class:`CsvMapping` (columns are never guessed).

One statement per currency: when the currency comes from a column and the file holds several currencies
(PayPal, Adyen exports), each currency becomes its own statement, entries in file order. To do that without
holding the file in memory, the content is spooled to a temporary file (in memory up to 8 MiB, on disk beyond)
while the first pass collects the currencies; each statement then re-reads the spool.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO

from ._io import parse_decimal
from .errors import ParseError
from .model import BOOKED, CREDIT, DEBIT, END_OF_DAY, EntryStream, ParsedEntry, ParsedStatement, make_stream, new_entry

Column = str | int  # header name, or 0-based index


@dataclass(frozen=True)
class CsvMapping:
    """How to read one bank's CSV export.

    Columns are header names (needs ``has_header``) or 0-based indexes. Amount is either one signed ``amount``
    column, or separate ``debit``/``credit`` columns (each holding a positive number, or empty). ``sign``:

    * ``"credit_positive"`` (default): a positive amount is a credit, negative a debit;
    * ``"debit_positive"``: the file shows debits as positive numbers and credits as negative;
    * ``"indicator"``: the amount is unsigned and ``indicator`` names a column whose value is one of
      ``credit_values`` or ``debit_values`` (e.g. ``"C"``/``"D"``, ``"Af"``/``"Bij"``).
    """

    date: Column
    amount: Column | None = None
    debit: Column | None = None
    credit: Column | None = None
    currency: Column | None = None  # column with the ISO code ...
    fixed_currency: str | None = None  # ... or one currency for the whole file
    value_date: Column | None = None
    description: Column | tuple[Column, ...] | None = None  # several columns are joined with " "
    counterparty_name: Column | None = None
    counterparty_account: Column | None = None
    reference: Column | None = None  # bank's reference for the line
    end_to_end_id: Column | None = None
    balance: Column | None = None  # running balance after the line
    type_code: Column | None = None
    account: str | None = None  # the account the file belongs to (CSV exports rarely say)
    statement_id: str | None = None
    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8-sig"
    skip_rows: int = 0  # lines to skip before the header (or before the data when has_header is False)
    has_header: bool = True
    date_format: str = "%Y-%m-%d"  # strptime format; a format with time is fine (the date part is kept)
    value_date_format: str | None = None  # defaults to date_format
    decimal_separator: str = "."
    thousands_separator: str | None = None
    sign: str = "credit_positive"  # "credit_positive" | "debit_positive" | "indicator"
    indicator: Column | None = None
    credit_values: tuple[str, ...] = ("C", "CR", "CRDT", "CREDIT", "+")
    debit_values: tuple[str, ...] = ("D", "DR", "DBIT", "DEBIT", "-")
    skip_empty_amount: bool = True  # rows with no amount at all (sub-totals, notes) are skipped

    def validate(self) -> None:
        if self.amount is None and self.debit is None and self.credit is None:
            raise ParseError("CsvMapping needs an 'amount' column or 'debit'/'credit' columns", None)
        if self.amount is not None and (self.debit is not None or self.credit is not None):
            raise ParseError("CsvMapping: give either 'amount' or 'debit'/'credit', not both", None)
        if self.currency is None and not self.fixed_currency:
            raise ParseError("CsvMapping needs a 'currency' column or a 'fixed_currency'", None)
        if self.sign not in ("credit_positive", "debit_positive", "indicator"):
            raise ParseError(f"CsvMapping.sign {self.sign!r}: expected credit_positive, debit_positive or indicator", None)
        if self.sign == "indicator" and self.indicator is None:
            raise ParseError("CsvMapping.sign='indicator' needs an 'indicator' column", None)
        if len(self.delimiter) != 1:
            raise ParseError(f"CsvMapping.delimiter must be one character, got {self.delimiter!r}", None)


class _Rows:
    """Reads the spooled file: yields (line_number, row) after skip rows and header, with column lookup."""

    def __init__(self, spool: IO[bytes], mapping: CsvMapping, keep_raw: bool = False):
        self.spool = spool
        self.m = mapping
        self.keep_raw = keep_raw
        self.index: dict[str, int] = {}

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        m = self.m
        self.spool.seek(0)
        text = io.TextIOWrapper(self.spool, encoding=m.encoding, errors="strict", newline="")
        try:
            reader = csv.reader(text, delimiter=m.delimiter, quotechar=m.quotechar)
            skipped = 0
            header_done = not m.has_header
            try:
                for row in reader:
                    if skipped < m.skip_rows:
                        skipped += 1
                        continue
                    if not header_done:
                        header_done = True
                        self.index = {name.strip().lstrip("\ufeff"): i for i, name in enumerate(row)}
                        self._check_columns(reader.line_num)
                        continue
                    if not any(cell.strip() for cell in row):
                        continue
                    yield reader.line_num, row
            except UnicodeDecodeError as exc:
                raise ParseError(
                    f"text is not {m.encoding}: {exc.reason} (set CsvMapping.encoding, e.g. 'cp1252')",
                    f"line {reader.line_num + 1}",
                ) from None
            except csv.Error as exc:
                raise ParseError(f"malformed CSV: {exc}", f"line {reader.line_num}") from None
            if m.has_header and not header_done:
                raise ParseError("the file has no header row; expected column names", f"line {m.skip_rows + 1}")
        finally:
            text.detach()

    def _check_columns(self, line: int) -> None:
        m = self.m
        wanted = [
            m.date, m.amount, m.debit, m.credit, m.currency, m.value_date, m.counterparty_name,
            m.counterparty_account, m.reference, m.end_to_end_id, m.balance, m.type_code, m.indicator,
        ]  # fmt: skip
        if isinstance(m.description, tuple):
            wanted.extend(m.description)
        else:
            wanted.append(m.description)
        missing = [c for c in wanted if isinstance(c, str) and c not in self.index]
        if missing:
            raise ParseError(
                f"header has no column(s) {missing}; found {sorted(self.index)}", f"line {line}"
            )

    def cell(self, row: list[str], col: Column | None) -> str | None:
        if col is None:
            return None
        i = col if isinstance(col, int) else self.index.get(col)
        if i is None or i >= len(row):
            return None
        value = row[i].strip()
        return value or None


def parse_csv(reader: IO[bytes], mapping: CsvMapping, *, keep_raw: bool = False) -> Iterator[ParsedStatement]:
    mapping.validate()
    return _parse(reader, mapping, keep_raw)


def _parse(reader: IO[bytes], mapping: CsvMapping, keep_raw: bool = False) -> Iterator[ParsedStatement]:
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    try:
        while True:
            chunk = reader.read(1 << 16)
            if not chunk:
                break
            spool.write(chunk)
        rows = _Rows(spool, mapping, keep_raw)  # type: ignore[arg-type]
        currencies: list[str] = []
        if mapping.currency is None:
            currencies = [mapping.fixed_currency or ""]
        else:
            seen: set[str] = set()
            for line, row in rows:
                ccy = rows.cell(row, mapping.currency) or mapping.fixed_currency
                if not ccy:
                    raise ParseError(f"no currency in column {mapping.currency!r}", f"line {line}")
                ccy = ccy.upper()
                if ccy not in seen:
                    seen.add(ccy)
                    currencies.append(ccy)
        if not currencies:
            raise ParseError("the CSV file has no data rows", "line 1")
        for ccy in currencies:
            yield from _statement(rows, mapping, ccy)
    finally:
        spool.close()


def _statement(rows: _Rows, m: CsvMapping, currency: str) -> Iterator[ParsedStatement]:
    # The opening balance (running balance minus first amount) needs the first row of this currency.
    first: ParsedEntry | None = None
    first_balance: Decimal | None = None
    scan = iter(rows)
    for line, row in scan:
        parsed = _row(rows, m, line, row, currency)
        if parsed is not None:
            first, first_balance = parsed
            break
    scan.close()  # type: ignore[attr-defined]
    if first is None:
        return
    opening = first_balance - first.amount if first_balance is not None else None

    def entries(stream: EntryStream) -> Iterator[ParsedEntry]:
        last_balance = None
        for line, row in rows:
            parsed = _row(rows, m, line, row, currency)
            if parsed is None:
                continue
            entry, balance = parsed
            if balance is not None:
                last_balance = balance
            yield entry
        stream.trailer["closing_booked"] = last_balance
        stream.trailer["closing_available"] = None

    stream = make_stream(entries, currency)
    yield ParsedStatement(
        format="csv",
        kind=END_OF_DAY,
        statement_id=m.statement_id,
        sequence=None,
        account=m.account,
        account_servicer=None,
        currency=currency,
        created_at=None,
        period_from=None,
        period_to=None,
        opening_booked=opening,
        opening_available=None,
        entries=stream,
        source_line=first.source_line,
    )
    stream._drain()


def _row(rows: _Rows, m: CsvMapping, line: int, row: list[str], currency: str) -> tuple[ParsedEntry, Decimal | None] | None:
    ccy = (rows.cell(row, m.currency) or m.fixed_currency or "").upper() if m.currency is not None else currency
    if ccy != currency:
        return None
    loc = f"line {line}"

    def number(col: Column | None, what: str) -> Decimal | None:
        text = rows.cell(row, col)
        if text is None:
            return None
        try:
            return parse_decimal(text, decimal_sep=m.decimal_separator, thousands_sep=m.thousands_separator)
        except ValueError:
            raise ParseError(
                f"{what} {text!r} in column {col!r} is not a number (decimal separator "
                f"{m.decimal_separator!r}, thousands separator {m.thousands_separator!r})",
                loc,
            ) from None

    if m.amount is not None:
        amount = number(m.amount, "amount")
    else:
        debit = number(m.debit, "debit")
        credit = number(m.credit, "credit")
        if debit is None and credit is None:
            amount = None
        else:
            amount = (abs(credit) if credit else Decimal(0)) - (abs(debit) if debit else Decimal(0))
    if amount is None:
        if m.skip_empty_amount:
            return None
        raise ParseError(f"no amount in column {m.amount or (m.debit, m.credit)!r}", loc)
    if m.amount is not None:
        if m.sign == "debit_positive":
            amount = -amount
        elif m.sign == "indicator":
            flag = (rows.cell(row, m.indicator) or "").strip()
            upper = flag.upper()
            if upper in {v.upper() for v in m.credit_values}:
                amount = abs(amount)
            elif upper in {v.upper() for v in m.debit_values}:
                amount = -abs(amount)
            else:
                raise ParseError(
                    f"credit/debit indicator {flag!r} in column {m.indicator!r}: expected one of "
                    f"{m.credit_values} or {m.debit_values}",
                    loc,
                )
    booking = _date(rows.cell(row, m.date), m.date_format, "date", m.date, loc)
    if booking is None:
        raise ParseError(f"no date in column {m.date!r}", loc)
    value = _date(rows.cell(row, m.value_date), m.value_date_format or m.date_format, "value date", m.value_date, loc)
    if isinstance(m.description, tuple):
        parts = [rows.cell(row, c) for c in m.description]
        description = " ".join(p for p in parts if p) or None
    else:
        description = rows.cell(row, m.description)
    balance = number(m.balance, "balance")
    entry = new_entry(
        amount=amount,
        currency=currency,
        direction=CREDIT if amount >= 0 else DEBIT,
        status=BOOKED,
        booking_date=booking,
        value_date=value,
        bank_reference=rows.cell(row, m.reference),
        end_to_end_id=rows.cell(row, m.end_to_end_id),
        counterparty_name=rows.cell(row, m.counterparty_name),
        counterparty_account=rows.cell(row, m.counterparty_account),
        remittance_text=description,
        raw_type_code=rows.cell(row, m.type_code),
        source_line=line,
        raw=m.delimiter.join(row) if rows.keep_raw else None,
    )
    return entry, balance


def _date(text: str | None, fmt: str, what: str, col: Column | None, loc: str) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, fmt).date()
    except ValueError:
        raise ParseError(f"{what} {text!r} in column {col!r} does not match the date format {fmt!r}", loc) from None
