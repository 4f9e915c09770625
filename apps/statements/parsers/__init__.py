"""Bank statement parsers: camt.052/053/054, MT940/MT942, BAI2 and mapped CSV into one model.

Pure Python (no Django). Entry points::

    from apps.statements.parsers import detect_format, parse

    with open(path, "rb") as f:
        for statement in parse(f):                 # format detected from the content
            ...                                    # header: account, currency, opening balance
            for batch in statement.entries.batches(1000):
                ...                                # entries, read lazily from the file
            statement.entry_count, statement.total_credits, statement.closing_booked

See :mod:`apps.statements.parsers.model` for the consumption rules (consume a statement's entries before
asking for the next statement; totals are known after the entries). Errors are :class:`ParseError` with a
``location`` (line number, plus the XML path for camt).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from ._io import HeadReader
from .delimited import CsvMapping, parse_csv
from .detect import (
    BAI2,
    CSV,
    MT940,
    MT942,
    NACHA,
    NOT_A_STATEMENT,
    OFX,
    detect_format,
    family,
)
from .errors import HostileXmlError, NotAStatementError, ParseError, UnknownFormatError
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
    EntriesNotConsumed,
    EntryStream,
    ParsedEntry,
    ParsedStatement,
    TransactionDetail,
)
from .taxonomy import BankTransactionCode

__all__ = [
    "BOOKED",
    "CREDIT",
    "DEBIT",
    "END_OF_DAY",
    "INFO",
    "INTRADAY",
    "NOTIFICATION",
    "PENDING",
    "BankTransactionCode",
    "Charge",
    "CsvMapping",
    "EntriesNotConsumed",
    "EntryStream",
    "HostileXmlError",
    "NotAStatementError",
    "ParseError",
    "ParsedEntry",
    "ParsedStatement",
    "TransactionDetail",
    "UnknownFormatError",
    "collect",
    "detect_format",
    "is_statement_format",
    "parse",
]

_ROUTING = {
    "pain.001": "a pain.001 customer credit transfer initiation (an outgoing payment file)",
    "pain.002": "a pain.002 payment status report (route it to payment status processing)",
    "pain.008": "a pain.008 direct debit initiation (an outgoing collection file)",
    NACHA: "a NACHA ACH payment file",
}


def is_statement_format(fmt: str) -> bool:
    """True for formats :func:`parse` turns into statements (camt.05x, mt940, mt942, bai2, csv)."""
    fam = family(fmt)
    return fam in ("camt.052", "camt.053", "camt.054", MT940, MT942, BAI2, CSV)


def parse(
    fileobj: IO[bytes] | IO[str],
    *,
    format: str = "auto",
    csv_mapping: CsvMapping | None = None,
    keep_raw: bool = False,
) -> Iterator[ParsedStatement]:
    """Parse a statement file into :class:`ParsedStatement` objects, lazily.

    ``fileobj`` is a binary file object (text file objects are accepted and read as UTF-8). ``format`` is
    ``"auto"`` (detect from content) or a name returned by :func:`detect_format` (``"camt.053"``, ``"mt940"``,
    ``"bai2"``, ``"csv"`` ...). CSV needs ``csv_mapping`` (there is no guessing of columns); passing a mapping
    with ``format="auto"`` parses as CSV.

    ``keep_raw=True`` fills :attr:`ParsedEntry.raw` with the entry as it stood in the file (camt: the ``<Ntry>``
    XML, MT940: the ``:61:``/``:86:`` lines, BAI2: the 16/88 records, CSV: the row). It is off by default because
    serialising each camt entry costs about as much as parsing it; ``raw`` is then None.
    """
    reader = HeadReader(fileobj)
    if format == "auto":
        fmt = CSV if csv_mapping is not None else detect_format(reader.head)
    else:
        fmt = format
    return _dispatch(reader, fmt, csv_mapping, fileobj, keep_raw)


def _dispatch(
    reader: HeadReader, fmt: str, csv_mapping: CsvMapping | None, original: Any, keep_raw: bool = False
) -> Iterator[ParsedStatement]:
    fam = family(fmt)
    if fam in ("camt.052", "camt.053", "camt.054"):
        from .camt import parse_camt

        return parse_camt(reader, fmt, keep_raw=keep_raw)
    if fam in (MT940, MT942):
        from .mt940 import parse_mt940

        return parse_mt940(reader, fam, keep_raw=keep_raw)
    if fam == BAI2:
        from .bai2 import parse_bai2

        return parse_bai2(reader, keep_raw=keep_raw)
    if fam == CSV:
        if csv_mapping is None:
            raise ParseError(
                "this looks like delimited text (CSV); CSV statements need a CsvMapping that names the date, "
                "amount and currency columns: parse(f, format='csv', csv_mapping=CsvMapping(...))",
                "line 1",
            )
        return parse_csv(reader, csv_mapping, keep_raw=keep_raw)
    if fam in NOT_A_STATEMENT:
        raise NotAStatementError(
            f"this is {_ROUTING.get(fam, fam)}, not a bank statement ({fmt})", "line 1", format=fmt
        )
    if fam == OFX:
        raise ParseError("OFX files are recognised but not supported yet; ask the bank for camt.053 or MT940", "line 1")
    raise UnknownFormatError(f"unknown format name {fmt!r}", None)


def collect(
    fileobj: IO[bytes] | IO[str], **kwargs: Any
) -> list[tuple[ParsedStatement, list[ParsedEntry]]]:
    """Parse everything into memory: ``[(statement, [entries])]``. For small files, tests and previews."""
    out = []
    for statement in parse(fileobj, **kwargs):
        out.append((statement, list(statement.entries)))
    return out
