"""CSV for file-based partners: reading with errors that name the file, line and column (a ``PermanentError``:
the partner must fix the file), and writing. Dialect: UTF-8 (a BOM is accepted), ``;``-separated by default, a
header row, decimal point ``.``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from apps.connectors.errors import PermanentError

DELIMITER = ";"
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class Row:
    name: str
    line: int
    values: dict[str, str]

    def where(self, column: str) -> str:
        return f"{self.name}: line {self.line}, column {column}"

    def get(self, column: str) -> str:
        return self.values.get(column, "")

    def need(self, column: str) -> str:
        value = self.get(column)
        if not value:
            raise PermanentError(f"{self.where(column)}: a value is required.")
        return value

    def decimal(self, column: str, *, required: bool = True) -> str:
        """A decimal as written (``1250.00``), checked: no thousands separators, no decimal comma."""
        value = self.need(column) if required else self.get(column)
        if value and not _DECIMAL.match(value):
            raise PermanentError(f"{self.where(column)}: {value!r} is not a decimal number (digits and a point).")
        return value

    def date(self, column: str, *, required: bool = True) -> str:
        value = self.need(column) if required else self.get(column)
        if value:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise PermanentError(f"{self.where(column)}: {value!r} is not a date (YYYY-MM-DD).") from None
        return value

    def flag(self, column: str) -> bool:
        value = self.need(column).upper()
        if value not in ("Y", "N", "TRUE", "FALSE", "1", "0"):
            raise PermanentError(f"{self.where(column)}: {value!r} is not Y or N.")
        return value in ("Y", "TRUE", "1")


def read_rows(name: str, data: bytes, *, required: Iterable[str], delimiter: str = DELIMITER,
              allow_empty: bool = False) -> list[Row]:
    """The data rows of a CSV file (blank lines skipped). Refuses a file that is not UTF-8, lacks a required
    column, has a row with more or fewer fields than the header, or has no data rows (unless ``allow_empty``)."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise PermanentError(f"{name}: line {line}: not UTF-8 (byte {exc.start}).") from None
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    rows: list[Row] = []
    try:
        header = [h.strip() for h in next(reader, [])]
        if not any(header):
            raise PermanentError(f"{name}: line 1: the file is empty; a header row is expected.")
        missing = [c for c in required if c not in header]
        if missing:
            raise PermanentError(f"{name}: line 1: missing column(s) {', '.join(missing)}.")
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                column = header[len(values)] if len(values) < len(header) else f"{len(header) + 1} (extra)"
                raise PermanentError(f"{name}: line {reader.line_num}, column {column}: {len(values)} field(s) where "
                                     f"the header has {len(header)} (cut off, or a stray {delimiter!r}?).")
            rows.append(Row(name, reader.line_num, {h: v.strip() for h, v in zip(header, values)}))
    except csv.Error as exc:
        raise PermanentError(f"{name}: line {reader.line_num}: {exc}.") from None
    if not rows and not allow_empty:
        raise PermanentError(f"{name}: line 2: no data rows.")
    return rows


def same_in_group(rows: list[Row], column: str) -> str:
    """The value of ``column``, which must be the same on every row of the group."""
    first = rows[0].get(column)
    for row in rows[1:]:
        if row.get(column) != first:
            raise PermanentError(f"{row.where(column)}: {row.get(column)!r} differs from {first!r} on line "
                                 f"{rows[0].line} of the same group.")
    return first


def write_rows(columns: Iterable[str], rows: Iterable[dict], *, delimiter: str = DELIMITER) -> bytes:
    columns = list(columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, delimiter=delimiter, lineterminator="\n",
                            extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return out.getvalue().encode()
