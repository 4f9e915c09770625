"""The one in-memory model every statement format is parsed into.

How a caller consumes a parse (memory stays flat however large the file)
-----------------------------------------------------------------------
``parse(fileobj)`` is a generator of :class:`ParsedStatement`. Each statement is yielded as soon as its *header*
is read (account, currency, period, opening balance; for camt and BAI2 also the closing balance, which those
formats put before the entries). Its entries are **not** in memory: ``statement.entries`` is a one-pass iterator
that reads them from the file on demand::

    for statement in parse(fileobj):
        run = start_import(statement.account, statement.opening_booked)   # known before any entry
        for batch in statement.entries.batches(1000):                    # lazily read, 1000 at a time
            save(batch)
        finish_import(run, statement.entry_count, statement.total_credits,
                      statement.total_debits, statement.closing_booked)   # known once entries are consumed

Rules:

* Consume (or ignore) a statement's entries **before** asking the generator for the next statement. The file is
  read once, front to back. If you advance without consuming, the parser reads the remaining entries itself
  (so the totals stay right) and throws them away; iterating the old ``entries`` afterwards raises.
* ``entry_count``, ``total_credits`` and ``total_debits`` are counted while the entries stream past; reading them
  before the entries are exhausted raises :class:`EntriesNotConsumed`. ``closing_booked`` / ``closing_available``
  raise the same error only when the format puts them after the entries (MT940 ``:62F:``/``:64:``) and the entries
  have not been consumed yet; camt and BAI2 give them up front.
* ``total_credits`` and ``total_debits`` are positive sums over **booked** entries in the statement currency, so
  ``opening_booked + total_credits - total_debits == closing_booked`` holds for a consistent booked statement
  (see :meth:`ParsedStatement.reconciles`). Pending and information-only entries are counted in ``entry_count``
  (and in ``pending_count``) but not in the totals.
* For small files and tests, :func:`apps.statements.parsers.collect` returns ``[(statement, [entries...]), ...]``.

Amounts are ``Decimal`` and signed: credit positive, debit negative. Each amount travels with an ISO 4217
currency code. There is no ``float`` anywhere in this package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .taxonomy import BankTransactionCode

CREDIT = "credit"
DEBIT = "debit"

BOOKED = "booked"
PENDING = "pending"
INFO = "info"

END_OF_DAY = "end_of_day"
INTRADAY = "intraday"
NOTIFICATION = "notification"

ZERO = Decimal("0")


class EntriesNotConsumed(RuntimeError):
    """A total or trailing balance was read before the statement's entries were iterated to the end."""


@dataclass(frozen=True, slots=True)
class Charge:
    amount: Decimal
    currency: str | None
    code: str | None = None  # ChrgsTp/Cd or Prtry, e.g. "COMM"
    included: bool | None = None  # ChrgInclInd: charge already included in the entry amount
    bearer: str | None = None  # Br: DEBT / CRED / SHAR / SLEV


@dataclass(frozen=True, slots=True)
class TransactionDetail:
    """One underlying transaction of an entry (camt ``TxDtls``); a batched entry has several."""

    amount: Decimal | None  # signed like the entry; None when the bank gave no per-transaction amount
    currency: str | None
    direction: str | None
    end_to_end_id: str | None = None
    instruction_id: str | None = None
    payment_info_id: str | None = None
    servicer_reference: str | None = None
    mandate_id: str | None = None
    uetr: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    counterparty_bic: str | None = None
    remittance_text: str | None = None
    structured_reference: str | None = None
    bank_tx_code: BankTransactionCode | None = None
    is_return: bool = False
    return_reason: str | None = None
    return_info: str | None = None
    original_end_to_end_id: str | None = None
    original_amount: Decimal | None = None
    original_currency: str | None = None
    exchange_rate: Decimal | None = None
    charges: tuple[Charge, ...] = ()
    source_path: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One statement line. ``amount`` is signed: credit positive, debit negative."""

    amount: Decimal
    currency: str | None
    direction: str  # CREDIT | DEBIT
    status: str = BOOKED  # BOOKED | PENDING | INFO
    booking_date: date | None = None
    value_date: date | None = None
    bank_reference: str | None = None  # the bank's id for the entry (camt NtryRef, MT940 //ref, BAI bank ref)
    servicer_reference: str | None = None  # account-servicer reference (camt AcctSvcrRef)
    customer_reference: str | None = None  # account owner's reference (MT940 :61: ref, BAI customer ref)
    end_to_end_id: str | None = None
    mandate_id: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    counterparty_bic: str | None = None
    remittance_text: str | None = None
    structured_reference: str | None = None
    additional_info: str | None = None  # AddtlNtryInf, MT940 booking text, BAI text
    bank_tx_code: BankTransactionCode | None = None
    raw_type_code: str | None = None  # as given: "PMNT/RCDT/ESCT", "NTRF", "166", "195"
    is_reversal: bool = False
    is_return: bool = False
    return_reason: str | None = None
    original_end_to_end_id: str | None = None
    original_amount: Decimal | None = None
    original_currency: str | None = None
    exchange_rate: Decimal | None = None
    charges: tuple[Charge, ...] = ()
    transactions: tuple[TransactionDetail, ...] = ()
    source_line: int | None = None  # 1-based line where the entry starts (all formats; camt: line of <Ntry>)
    source_path: str | None = None  # camt: /Document/BkToCstmrStmt/Stmt[1]/Ntry[3]
    raw: str | None = None  # with parse(keep_raw=True): the entry as in the file (camt XML, MT940 :61:+:86:, BAI 16+88)
    occurrence: int | None = None  # left for the caller (n-th identical entry in a statement, for natural keys)


def _fast_constructor(cls: type) -> Callable[..., Any]:
    """``make(**kwargs)`` that returns exactly ``cls(**kwargs)`` for a frozen, slotted dataclass, 2-4x faster.

    A frozen dataclass's ``__init__`` stores every field with ``object.__setattr__`` (slow, and paid for all 30-odd
    fields of an entry even when most keep their default). The parsers build one entry per statement line, so
    they use this instead: the fields are stored on an instance of a plain twin class with the same ``__slots__``
    (ordinary attribute stores), whose ``__class__`` is then set to ``cls``. The result is a normal ``cls``
    instance (same type, equality, hash, repr, immutability). Keyword arguments only; fields with a default may be
    left out. Falls back to ``cls`` itself if the interpreter refuses the class switch.
    """
    names = [f.name for f in fields(cls)]
    if tuple(names) != tuple(getattr(cls, "__slots__", ())) or hasattr(cls, "__post_init__"):
        return cls
    env: dict[str, Any] = {"_Twin": type(f"_{cls.__name__}Twin", (), {"__slots__": tuple(names)}), "_cls": cls}
    params = []
    for f in fields(cls):
        if f.default is not MISSING:
            env[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        elif f.default_factory is not MISSING:  # type: ignore[misc]
            return cls
        else:
            params.append(f.name)
    body = "".join(f"    o.{n} = {n}\n" for n in names)
    source = f"def make(*, {', '.join(params)}):\n    o = _Twin()\n{body}    o.__class__ = _cls\n    return o\n"
    exec(source, env)  # noqa: S102 - generated from the dataclass's own field names, like dataclasses does
    make = env["make"]
    make.__qualname__ = f"{cls.__name__}.fast"
    try:
        probe = {n: None for n in names}
        if make(**probe) != cls(**probe):
            return cls
    except TypeError:  # "__class__ assignment: ... object layout differs"
        return cls
    return make


class EntryStream:
    """One-pass iterator over a statement's entries that counts totals as they go by.

    Created by the parsers; callers only iterate it (``for e in stream`` or ``stream.batches(n)``).
    """

    __slots__ = (
        "_source",
        "_currency",
        "_done",
        "_closed_by_parser",
        "count",
        "pending_count",
        "credits",
        "debits",
        "credit_count",
        "debit_count",
        "other_currency_count",
        "trailer",
    )

    def __init__(self, source: Iterator[ParsedEntry], currency: str | None):
        self._source = source
        self._currency = currency
        self._done = False
        self._closed_by_parser = False
        self.count = 0
        self.pending_count = 0
        self.credits = ZERO
        self.debits = ZERO
        self.credit_count = 0
        self.debit_count = 0
        self.other_currency_count = 0
        self.trailer: dict[str, Any] = {}

    def __iter__(self) -> EntryStream:
        return self

    def __next__(self) -> ParsedEntry:
        if self._done:
            if self._closed_by_parser:
                raise RuntimeError(
                    "these entries were skipped: the parse moved on to the next statement before they were "
                    "consumed (iterate statement.entries before asking for the next statement)"
                )
            raise StopIteration
        try:
            entry = next(self._source)
        except StopIteration:
            self._done = True
            raise
        self._count(entry)
        return entry

    def _count(self, entry: ParsedEntry) -> None:
        self.count += 1
        if entry.status != BOOKED:
            self.pending_count += 1
            return
        if self._currency is None and entry.currency:
            self._currency = entry.currency  # statement without a declared currency: the first entry's counts
        if self._currency and entry.currency and entry.currency != self._currency:
            self.other_currency_count += 1
            return
        if entry.amount >= 0:
            self.credits += entry.amount
            self.credit_count += 1
        else:
            self.debits -= entry.amount
            self.debit_count += 1

    def batches(self, size: int = 1000) -> Iterator[list[ParsedEntry]]:
        """Yield lists of at most ``size`` entries."""
        if size < 1:
            raise ValueError("batch size must be at least 1")
        batch: list[ParsedEntry] = []
        for entry in self:
            batch.append(entry)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    @property
    def exhausted(self) -> bool:
        return self._done

    def _drain(self) -> None:
        """Called by the parser before it moves on: read (and count) what the caller left unread."""
        if self._done:
            return
        for _ in self:
            pass
        self._closed_by_parser = True


def _require(stream: EntryStream, what: str) -> None:
    if not stream.exhausted:
        raise EntriesNotConsumed(f"{what} is known only after the statement's entries have been iterated")


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """A statement, intraday report or notification for one account.

    Header fields are plain attributes. Entries, totals and (for MT940) the closing balances come from
    ``entries`` as described in the module docstring.
    """

    format: str  # "camt.053.001.02", "camt.052", "mt940", "mt942", "bai2", "csv"
    kind: str  # END_OF_DAY | INTRADAY | NOTIFICATION
    statement_id: str | None
    sequence: str | None  # ElctrncSeqNb (LglSeqNb if no electronic one), MT940 :28C:, BAI2 file id
    account: str | None  # IBAN or other id exactly as given
    account_servicer: str | None  # BIC of the account-servicing bank, if given
    currency: str | None
    created_at: datetime | None
    period_from: date | None
    period_to: date | None
    opening_booked: Decimal | None
    opening_available: Decimal | None
    entries: EntryStream = field(repr=False, compare=False)
    message_id: str | None = None
    legal_sequence: str | None = None
    account_owner: str | None = None
    additional_info: str | None = None
    balances: tuple[tuple[str, Decimal, str | None, date | None], ...] = ()  # (type, signed amount, ccy, date)
    source_line: int | None = None
    source_path: str | None = None

    # --- known once entries are consumed (or up front where the format says so) ---------------------------
    def _trailer(self, key: str) -> Decimal | None:
        stream = self.entries
        if key in stream.trailer:
            return stream.trailer[key]
        _require(stream, key)
        return None

    @property
    def closing_booked(self) -> Decimal | None:
        return self._trailer("closing_booked")

    @property
    def closing_available(self) -> Decimal | None:
        return self._trailer("closing_available")

    @property
    def closing_date(self) -> date | None:
        """Date of the closing booked balance (MT940 ``:62F:``, camt ``CLBD/Dt``)."""
        return self._trailer("closing_date")

    @property
    def entry_count(self) -> int:
        _require(self.entries, "entry_count")
        return self.entries.count

    @property
    def pending_count(self) -> int:
        _require(self.entries, "pending_count")
        return self.entries.pending_count

    @property
    def total_credits(self) -> Decimal:
        _require(self.entries, "total_credits")
        return self.entries.credits

    @property
    def total_debits(self) -> Decimal:
        _require(self.entries, "total_debits")
        return self.entries.debits

    def reconciles(self) -> bool | None:
        """``opening + credits - debits == closing`` (booked); None when a balance is missing."""
        closing = self.closing_booked
        if self.opening_booked is None or closing is None:
            return None
        return self.opening_booked + self.total_credits - self.total_debits == closing


new_entry: Callable[..., ParsedEntry] = _fast_constructor(ParsedEntry)
"""``new_entry(amount=.., currency=.., direction=.., ...)``: same as ``ParsedEntry(...)``, faster (parsers use it)."""
new_transaction: Callable[..., TransactionDetail] = _fast_constructor(TransactionDetail)
new_charge: Callable[..., Charge] = _fast_constructor(Charge)


def make_stream(
    source_factory: Callable[[EntryStream], Iterator[ParsedEntry]], currency: str | None
) -> EntryStream:
    """Build an EntryStream whose source generator can write trailer values (closing balances) into it."""
    stream = EntryStream(iter(()), currency)
    stream._source = source_factory(stream)
    return stream
