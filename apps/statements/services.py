"""Statement import: one service for every path (command line, REST upload, console upload, bank channels).

``statement_file_import`` stores the file once (by SHA-256), parses it as a stream, resolves each statement's
account, checks it, stores its entries in batches (deduplicated by a natural key the database enforces), and
opens an exception case for every problem a person must act on. A file is imported in one transaction: a
malformed file leaves nothing half-written behind, only the kept raw file, the rejected run and its case.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import re
import threading
from array import array
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import BinaryIO

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.core.audit import audited_save
from apps.core.errors import ApplicationError, PermissionDenied, RetryFailed, ValidationFailed
from apps.core.events import event_emit
from apps.core.models import RawDocument
from apps.core.money import AMOUNT_DECIMAL_PLACES, Money, is_currency
from apps.core.services import document_open, document_store
from apps.exceptions.services import case_open
from apps.org.models import BankAccount, BankPartner
from apps.statements import parsers
from apps.statements.models import CashPosition, CsvMapping, ImportRun, Statement, StatementEntry, StatementKind
from apps.statements.linking import batch_rows_register, notification_rows_link
from apps.statements.storage import COLUMN, NO_ITEMS, JsonArray, row_dict, store_batches

logger = logging.getLogger(__name__)

BATCH_SIZE = 10000
MAX_DECIMALS = AMOUNT_DECIMAL_PLACES  # ISO 20022 amounts carry at most 5 decimals; more is a malformed file
FORMAT_ALIASES = {
    "auto": "auto", "camt053": "camt.053", "camt052": "camt.052", "camt054": "camt.054", "mt940": "mt940",
    "mt942": "mt942", "bai2": "bai2", "csv": "csv",
}
IMPORT_PERMISSION = "statements.add_importrun"

# Other apps handle bank files that are not statements (e.g. pain.002 status reports from payments):
# register_document_handler("pain.002", handler) where handler(document, run_source, actor) -> dict.
_document_handlers: dict[str, Callable] = {}


def register_document_handler(family: str, handler: Callable) -> None:
    _document_handlers[family] = handler


# --- results -----------------------------------------------------------------------------------------------------

@dataclass
class StatementResult:
    account: str | None
    currency: str | None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    entries: int = 0
    credits: Decimal = Decimal(0)
    debits: Decimal = Decimal(0)
    balances_reconcile: bool | None = None
    statement_id: str | None = None
    kind: str | None = None
    error: str = ""

    def as_json(self) -> dict:
        return {
            "account": self.account,
            "currency": self.currency,
            "statement_id": self.statement_id,
            "kind": self.kind,
            "opening_balance": _s(self.opening_balance),
            "closing_balance": _s(self.closing_balance),
            "entries": self.entries,
            "credits": _s(self.credits),
            "debits": _s(self.debits),
            "balances_reconcile": self.balances_reconcile,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class ImportResult:
    path: str
    sha256: str
    format: str = ""
    status: str = ImportRun.Status.IMPORTED
    error: str = ""
    statements: list[StatementResult] = field(default_factory=list)
    entries_created: int = 0
    entries_duplicate: int = 0
    run_id: int | None = None
    dry_run: bool = False

    def as_json(self) -> dict:
        data = {
            "path": self.path,
            "sha256": self.sha256,
            "format": self.format,
            "status": self.status,
            "error": self.error or None,
            "statements": [s.as_json() for s in self.statements],
            "entries_created": self.entries_created,
            "entries_duplicate": self.entries_duplicate,
        }
        if self.run_id is not None:
            data["run_id"] = self.run_id
        if self.dry_run:
            data["dry_run"] = True
        return data


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# --- accounts ----------------------------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s.\-]")


def bank_account_resolve(identifier: str | None, currency: str | None = None) -> BankAccount | None:
    """Find our bank account from the identifier a bank file gives, in every dialect seen in the wild:
    an IBAN (with spaces, or with the currency appended: ``NL77INGB0574908765EUR``), a local number, ``BLZ/konto``,
    ``BIC/number/CCY``, or the account number part of one of our IBANs."""
    if not identifier:
        return None
    ident = _SPACES.sub("", identifier).upper()
    candidates = [ident]
    if currency and ident.endswith(currency) and len(ident) > 3:
        candidates.append(ident[: -len(currency)])
    if is_currency(ident[-3:]) and len(ident) > 3:
        candidates.append(ident[:-3])
    parts = [p for p in ident.split("/") if p]
    routing = ""
    if len(parts) >= 2:
        routing, number = parts[-2], parts[-1]
        if is_currency(number) and len(parts) >= 3:
            routing, number = parts[-3], parts[-2]
        candidates.append(number)
    qs = BankAccount.objects.select_related("entity", "bank").filter(active=True)
    for candidate in candidates:
        account = qs.filter(iban=candidate).first()
        if account:
            return account
    local = [(a, _SPACES.sub("", a.account_number).upper()) for a in qs.filter(iban__isnull=True)]
    for candidate in candidates:
        wanted = {candidate, candidate.lstrip("0") or "0"}
        matches = [a for a, number in local if number in wanted or (number.lstrip("0") or "0") in wanted]
        if routing:
            matches = [a for a in matches if a.routing_code in ("", routing)] or matches
        same_currency = [a for a in matches if a.currency == currency]
        if len(same_currency) == 1:  # a multi-currency account: one number, an account per currency
            return same_currency[0]
        if len(matches) == 1:
            return matches[0]
    for candidate in candidates:  # the number inside one of our IBANs (MT940 of Dutch banks, BAI)
        if len(candidate.lstrip("0")) >= 6 and candidate.isalnum():
            matches = list(qs.filter(iban__endswith=candidate.lstrip("0")))
            if len(matches) == 1:
                return matches[0]
    return None


# --- natural keys ------------------------------------------------------------------------------------------------

def _norm(text: str | None) -> str:
    return " ".join(text.split()).upper()[:140] if text else ""


def entry_base_key(account_id: int, entry: parsers.ParsedEntry, currency: str, *, trust_bank_reference: bool) -> bytes:
    """What makes two reports the same booking. The bank's own servicer reference wins when given; otherwise
    the booking's own facts. Dates: value date first (stable from pending to booked). The bank reference counts
    only where it identifies the booking (MT940 ``//``, BAI2); camt ``NtryRef`` is often just the position in
    the statement, which differs between overlapping statements."""
    parts = [str(account_id), currency, str(entry.amount), entry.direction]
    if entry.servicer_reference:
        parts += ["S", entry.servicer_reference.strip()]
    else:
        day = entry.value_date or entry.booking_date
        parts += [
            "D", day.isoformat() if day else "", entry.end_to_end_id or "",
            (entry.bank_reference or "") if trust_bank_reference else "",
            entry.customer_reference or "", _norm(entry.counterparty_account), _norm(entry.remittance_text),
            entry.raw_type_code or "",
        ]
    return "\x1f".join(parts).encode()


# --- import ------------------------------------------------------------------------------------------------------

def _csv_mapping(mapping: CsvMapping | None) -> parsers.CsvMapping | None:
    if mapping is None:
        return None
    config = dict(mapping.config)
    for key in ("description", "credit_values", "debit_values"):
        if isinstance(config.get(key), list):
            config[key] = tuple(config[key])
    try:
        result = parsers.CsvMapping(**config)
        result.validate()
    except TypeError as exc:
        raise ValidationFailed(f"CSV mapping {mapping.name}: {exc}") from None
    return result


@transaction.atomic
def csv_mapping_save(
    *, mapping_id: int | None = None, name: str, bank_partner: BankPartner | None, config: dict, actor,
) -> CsvMapping:
    """Create (``mapping_id=None``) or change a CSV mapping; the history row names the actor and the reason."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("name: a CSV mapping needs a name.", {"field": "name"})
    if mapping_id is None:
        if not actor.has_perm("statements.add_csvmapping"):
            raise PermissionDenied("Your role may not create CSV mappings.")
        mapping = CsvMapping()
        reason = "created"
    else:
        if not actor.has_perm("statements.change_csvmapping"):
            raise PermissionDenied("Your role may not change CSV mappings.")
        mapping = CsvMapping.objects.select_for_update().get(pk=mapping_id)
        reason = "changed"
    if CsvMapping.objects.filter(name=name).exclude(pk=mapping.pk).exists():
        raise ValidationFailed(f"name: a CSV mapping named {name!r} already exists.", {"field": "name"})
    mapping.name, mapping.bank_partner, mapping.config = name, bank_partner, dict(config)
    try:
        _csv_mapping(mapping)  # the parser must accept it: refuse a mapping an import would choke on
    except parsers.ParseError as exc:
        raise ValidationFailed(f"config: {exc.message}", {"field": "config"}) from None
    audited_save(mapping, actor=actor, reason=f"CSV mapping {reason} in the console")
    return mapping


def _statement_date(parsed: parsers.ParsedStatement) -> date | None:
    closing = parsed.closing_date if parsed.entries.exhausted else None
    if closing:
        return closing
    if parsed.period_to:
        return parsed.period_to
    return parsed.created_at.date() if parsed.created_at else None


def statement_file_import(
    *,
    content: bytes | BinaryIO,
    filename: str = "",
    source: str = "upload",
    media_type: str = "application/octet-stream",
    file_format: str = "auto",
    csv_mapping: CsvMapping | None = None,
    dry_run: bool = False,
    actor=None,
) -> ImportResult:
    """Import one bank file. Idempotent: the same bytes again are reported as a duplicate and change nothing."""
    if actor is not None and not actor.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied("Your role may not import bank statements.")
    fmt = FORMAT_ALIASES.get(file_format)
    if fmt is None:
        raise ValidationFailed(
            f"format: {file_format!r} is not one of {', '.join(FORMAT_ALIASES)}.", {"field": "format"}
        )
    mapping = _csv_mapping(csv_mapping)
    if dry_run:
        return _dry_run(content, filename, fmt, mapping)

    document, _ = document_store(content=content, source=source, media_type=media_type, filename=filename,
                                 actor=actor)
    result = ImportResult(path=filename or document.filename, sha256=document.sha256)
    done = document.statement_imports.filter(status=ImportRun.Status.IMPORTED).first()
    if done is not None:
        result.status = ImportRun.Status.DUPLICATE
        result.format = done.format
        result.error = f"This file was already imported (run {done.pk} on {done.started_at:%Y-%m-%d %H:%M})."
        return result
    run = ImportRun.objects.create(raw_document=document, source=source[:100], csv_mapping=csv_mapping,
                                   created_by=actor if getattr(actor, "pk", None) else None)
    result.run_id = run.pk
    return statement_import_run(run_id=run.pk, file_format=fmt, mapping=mapping, result=result, actor=actor)


def statement_import_run(
    *, run_id: int, file_format: str = "auto", mapping: parsers.CsvMapping | None = None,
    result: ImportResult | None = None, actor=None,
) -> ImportResult:
    """Run (or re-run, for a retry) the import of a stored file."""
    run = ImportRun.objects.select_related("raw_document", "csv_mapping").get(pk=run_id)
    document = run.raw_document
    if mapping is None and run.csv_mapping is not None:
        mapping = _csv_mapping(run.csv_mapping)
    result = result or ImportResult(path=document.filename, sha256=document.sha256, run_id=run.pk)
    try:
        with transaction.atomic():
            _import(run, document, file_format, mapping, result, actor)
    except parsers.NotAStatementError as exc:
        handler = _document_handlers.get(parsers.family(exc.format))
        if handler is None:
            _reject(run, result, f"{exc.format} is not a bank statement and no handler for it is installed.",
                    actor=actor)
        else:
            result.format = exc.format
            outcome = handler(document=document, source=run.source, actor=actor)
            _finish(run, result, ImportRun.Status.IMPORTED, extra=outcome)
        return result
    except ApplicationError as exc:  # ParseError (malformed, hostile, unknown format) and rule failures
        _reject(run, result, exc.message, actor=actor)
        return result
    return result


def _reject(run: ImportRun, result: ImportResult, message: str, *, actor) -> None:
    result.status = ImportRun.Status.REJECTED
    result.error = message
    result.entries_created = result.entries_duplicate = 0
    for s in result.statements:
        s.entries = 0
    with transaction.atomic():
        _finish(run, result, ImportRun.Status.REJECTED)
        name = run.raw_document.filename or run.raw_document.sha256[:12]
        case_open(
            kind="statement.rejected", subject=run.raw_document, raw_document=run.raw_document,
            reason_code="file.rejected", actor=actor,
            message=f"{name} was rejected: {message} The file is kept; fix the cause or ask the bank to resend, "
            "then retry.",
        )


def _finish(run: ImportRun, result: ImportResult, status: str, extra: dict | None = None) -> None:
    run.status = status
    run.format = result.format[:40]
    run.error = result.error
    run.statements_count = len(result.statements)
    run.entries_created = result.entries_created
    run.entries_duplicate = result.entries_duplicate
    run.result = {**result.as_json(), **(extra or {})}
    run.finished_at = timezone.now()
    run.save()
    cache.delete(progress_key(run.pk))


def progress_key(run_id: int) -> str:
    return f"statement-import:{run_id}:entries"


def import_progress(run: ImportRun) -> int:
    """Entries processed so far (live while the run is going, from the shared cache)."""
    if run.status == ImportRun.Status.RUNNING:
        return int(cache.get(progress_key(run.pk)) or 0)
    return run.entries_seen


_gc_lock = threading.Lock()
_gc_relaxed_imports = 0
_gc_thresholds: tuple[int, ...] = ()


@contextmanager
def _gc_relaxed(threshold: int = 100_000):
    """Fewer passes of the cyclic garbage collector while a file streams through.

    An import allocates millions of short-lived objects (entries, rows) and none of them in a reference cycle, so
    reference counting frees them; the collector's default of a pass every 700 new objects still spends a sixth of
    a large import walking them. Collection is spaced out, not turned off; the thresholds come back when the last
    import running in the process is done.
    """
    global _gc_relaxed_imports, _gc_thresholds
    with _gc_lock:
        _gc_relaxed_imports += 1
        if _gc_relaxed_imports == 1:
            _gc_thresholds = gc.get_threshold()
            gc.set_threshold(max(threshold, _gc_thresholds[0]), *_gc_thresholds[1:])
    try:
        yield
    finally:
        with _gc_lock:
            _gc_relaxed_imports -= 1
            if _gc_relaxed_imports == 0:
                gc.set_threshold(*_gc_thresholds)


def _import(run, document, fmt, mapping, result, actor) -> None:
    seen = 0
    with document_open(document) as fh, _gc_relaxed():
        statements = parsers.parse(fh, format=fmt, csv_mapping=mapping)
        for parsed in statements:
            result.format = result.format or parsed.format
            try:
                with transaction.atomic():  # a statement that fails half-way leaves nothing of itself behind
                    seen = _import_statement(run, document, parsed, result, actor, seen)
            except StatementProblem as problem:
                _drain(parsed)
                sr = result.statements[-1]
                _fill_totals(sr, parsed)
                sr.error = problem.message
                _statement_case(problem.account, document, parsed, problem.message, actor)
                seen += parsed.entry_count
    if not result.statements:
        raise ValidationFailed("The file holds no statement.")
    if all(s.error for s in result.statements):
        raise ValidationFailed(
            "No statement in the file could be imported: " + "; ".join(s.error for s in result.statements)
        )
    run.entries_seen = seen
    _finish(run, result, ImportRun.Status.IMPORTED)


class StatementProblem(ApplicationError):
    """One statement of a file cannot be imported (unknown account, wrong currency); the others still can."""

    def __init__(self, message: str, account: BankAccount | None):
        super().__init__(message)
        self.account = account


def _drain(parsed: parsers.ParsedStatement) -> None:
    for _ in parsed.entries:
        pass


def _import_statement(run, document, parsed, result: ImportResult, actor, seen: int) -> int:
    currency = parsed.currency
    sr = StatementResult(account=parsed.account, currency=currency, opening_balance=parsed.opening_booked,
                         statement_id=parsed.statement_id, kind=parsed.kind)
    result.statements.append(sr)
    account = bank_account_resolve(parsed.account, currency)
    problem = ""
    if account is None:
        problem = f"unknown bank account {parsed.account!r}"
    elif currency and currency != account.currency:
        problem = f"currency {currency} does not match the account's currency {account.currency}"
    if not problem:
        for name in ("opening_booked", "opening_available"):
            value = getattr(parsed, name)
            if value is not None and value.as_tuple().exponent < -MAX_DECIMALS:
                problem = f"balance {value} ({name.replace('_', ' ')}) has more than {MAX_DECIMALS} decimals"
    if problem:
        raise StatementProblem(problem, account)
    currency = currency or account.currency
    statement = Statement.objects.create(
        bank_account=account, import_run=run, raw_document=document, kind=parsed.kind,
        format=parsed.format[:40], statement_id=(parsed.statement_id or "")[:100],
        sequence=(parsed.sequence or "")[:40], legal_sequence=(parsed.legal_sequence or "")[:40],
        message_id=(parsed.message_id or "")[:100], period_from=parsed.period_from, period_to=parsed.period_to,
        created_at_bank=_aware(parsed.created_at), currency=currency, opening_booked=parsed.opening_booked,
        opening_available=parsed.opening_available,
    )
    may_supersede = StatementEntry.objects.filter(bank_account=account, status=parsers.PENDING).exists()
    notification = parsed.kind == StatementKind.NOTIFICATION
    returns = []
    batches = _row_batches(parsed, account, statement, document, currency)
    link = (lambda rows: notification_rows_link(account.pk, rows)) if notification else None
    # the entries are parsed, keyed and stored a batch at a time; storing one overlaps parsing the next
    with closing(store_batches(batches, may_supersede=may_supersede, before_store=link)) as stored:
        for rows, outcome in stored:
            if not notification:
                batch_rows_register(account.pk, rows, outcome.created_keys)
            sr.entries += len(rows)
            statement.entries_created += len(outcome.created_keys)
            statement.entries_duplicate += outcome.duplicates
            returns += [row_dict(r) for r in rows if r[IS_RETURN] and r[NATURAL_KEY] in outcome.created_keys]
            seen += len(rows)
            cache.set(progress_key(run.pk), seen, timeout=3600)
    for name in ("closing_booked", "closing_available"):
        value = getattr(parsed, name)
        if value is not None and value.as_tuple().exponent < -MAX_DECIMALS:
            raise StatementProblem(f"balance {value} ({name.replace('_', ' ')}) has more than {MAX_DECIMALS} "
                                   "decimals", account)
    _fill_totals(sr, parsed)
    result.entries_created += statement.entries_created  # counted once the statement is through
    result.entries_duplicate += statement.entries_duplicate
    statement.entry_count = parsed.entry_count
    statement.total_credits = parsed.total_credits
    statement.total_debits = parsed.total_debits
    statement.closing_booked = parsed.closing_booked
    statement.closing_available = parsed.closing_available
    statement.statement_date = _statement_date(parsed)
    statement.balances_reconcile = sr.balances_reconcile
    statement.save()
    _checks(statement, document, actor)
    _cash_position(statement)
    for row in returns:
        event_emit("statement.entry_returned", statement, {
            "bank_account": account.identifier, "amount": str(row["amount"]), "currency": currency,
            "original_end_to_end_id": row["original_end_to_end_id"] or row["end_to_end_id"],
            "return_reason": row["return_reason"], "natural_key": row["natural_key"],
        }, actor=actor)
    event_emit("statement.received", statement, {
        "bank_account": account.identifier, "entity": account.entity.code, "kind": statement.kind,
        "statement_id": statement.statement_id, "statement_date": statement.statement_date,
        "closing_booked": statement.closing_booked, "currency": currency,
        "entries_created": statement.entries_created, "entries_duplicate": statement.entries_duplicate,
    }, actor=actor)
    return seen


class _Occurrences:
    """Counts how often each base key has turned up in a statement so far, by the key's hash (process-local is
    enough), in 8 to 16 bytes per entry.

    A Python set of the hashes takes about 70 bytes per entry (its table plus an int object each): 70 MB for a
    1,000,000-entry statement. Here the hashes sit in an open-addressing table (linear probing) in an
    ``array('q')``, at most half full; the rare repeats (identical bookings) are counted in a dict.
    """

    __slots__ = ("_table", "_mask", "_used", "_repeated")

    def __init__(self, size: int = 1 << 14):
        self._table = array("q", bytes(8 * size))
        self._mask = size - 1
        self._used = 0
        self._repeated: dict[int, int] = {}

    def add(self, h: int) -> int:
        """Record one more booking with key hash ``h``; return how many there have been (1 for the first)."""
        h = h or 1  # 0 marks a free slot
        table, mask = self._table, self._mask
        i = h & mask
        while True:
            v = table[i]
            if v == 0:
                break
            if v == h:
                n = self._repeated[h] = self._repeated.get(h, 1) + 1
                return n
            i = (i + 1) & mask
        table[i] = h
        self._used += 1
        if self._used * 2 > mask:
            self._grow()
        return 1

    def _grow(self) -> None:
        old = self._table
        size = 2 * len(old)
        table = self._table = array("q", bytes(8 * size))
        mask = self._mask = size - 1
        for h in old:
            if h:
                i = h & mask
                while table[i]:
                    i = (i + 1) & mask
                table[i] = h


def _row_batches(parsed, account, statement, document, currency: str) -> Iterator[list[list]]:
    """The statement's entries as rows to store, ``BATCH_SIZE`` at a time, each with its natural key (the n-th
    identical booking of the statement gets occurrence n)."""
    occurrences = _Occurrences()
    trust_bank_reference = not parsed.format.startswith("camt")
    account_id, statement_id, document_id = account.pk, statement.pk, document.pk
    sha256 = hashlib.sha256
    for batch in parsed.entries.batches(BATCH_SIZE):
        rows = []
        for entry in batch:
            if _too_precise(entry.amount):
                raise StatementProblem(
                    f"amount {entry.amount} at {entry.source_path or f'line {entry.source_line}'} has more than "
                    f"{MAX_DECIMALS} decimals", account,
                )
            if entry.currency and entry.currency != currency and entry.status == parsers.BOOKED:
                raise StatementProblem(
                    f"currency {entry.currency} of the entry at {entry.source_path or f'line {entry.source_line}'}"
                    f" does not match the account's currency {currency}", account,
                )
            base = entry_base_key(account_id, entry, currency, trust_bank_reference=trust_bank_reference)
            occurrence = occurrences.add(hash(base))
            key = sha256(b"%b\x1e%d" % (base, occurrence)).hexdigest()
            rows.append(_row(entry, key, occurrence, account_id, statement_id, document_id, currency))
        yield rows


def _too_precise(amount: Decimal) -> bool:
    """``amount`` has more than ``MAX_DECIMALS`` decimal places as written (``1.000000`` has 6).

    Read from ``str(amount)``, which writes plain numbers with exactly their decimal places: ``as_tuple()`` builds
    a named tuple of digits, and this runs once per entry. Anything else (whole, scientific, NaN) asks as_tuple().
    """
    text = str(amount)
    point = text.find(".")
    if point < 0 or "E" in text:
        return amount.as_tuple().exponent < -MAX_DECIMALS
    return len(text) - point - 1 > MAX_DECIMALS


def _aware(value):
    """Bank timestamps without an offset are taken as UTC (camt CreDtTm often has none)."""
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value, dt_timezone.utc)
    return value


def _fill_totals(sr: StatementResult, parsed) -> None:
    sr.entries = parsed.entry_count
    sr.credits = parsed.total_credits
    sr.debits = parsed.total_debits
    sr.closing_balance = parsed.closing_booked
    sr.balances_reconcile = parsed.reconciles()


IS_RETURN, NATURAL_KEY = COLUMN["is_return"], COLUMN["natural_key"]


def _row(entry, key, occurrence, account_id, statement_id, document_id, currency) -> list:
    """The entry as a row to store: its column values in ``storage.COLUMNS`` order, texts cut to their columns."""
    code = entry.bank_tx_code
    return [
        account_id,
        statement_id,
        document_id,
        key,
        occurrence,
        entry.status,
        entry.booking_date,
        entry.value_date,
        entry.amount,
        entry.currency or currency,  # a pending/info report may be in another currency
        entry.direction,
        (entry.bank_reference or "")[:100],
        (entry.servicer_reference or "")[:100],
        (entry.customer_reference or "")[:100],
        (entry.end_to_end_id or "")[:100],
        (entry.mandate_id or "")[:100],
        (entry.counterparty_name or "")[:200],
        (entry.counterparty_account or "")[:100],
        (entry.counterparty_bic or "")[:11],
        entry.remittance_text or "",
        (entry.structured_reference or "")[:100],
        entry.additional_info or "",
        code.code[:60] if code else "",
        code.category[:20] if code else "",
        (entry.raw_type_code or "")[:60],
        entry.is_reversal,
        entry.is_return,
        (entry.return_reason or "")[:60],
        (entry.original_end_to_end_id or "")[:100],
        entry.original_amount,
        (entry.original_currency or "")[:3],
        entry.exchange_rate,
        JsonArray(_charge(c) for c in entry.charges) if entry.charges else NO_ITEMS,
        JsonArray(_detail(t) for t in entry.transactions) if entry.transactions else NO_ITEMS,
        (entry.source_path or (f"line {entry.source_line}" if entry.source_line else ""))[:200],
        None,  # detail_of_id
        None,  # superseded_at
    ]


def _charge(c) -> dict:
    return {"amount": str(c.amount), "currency": c.currency, "code": c.code, "included": c.included,
            "bearer": c.bearer}


def _detail(t) -> dict:
    return {
        "amount": None if t.amount is None else str(t.amount), "currency": t.currency,
        "end_to_end_id": t.end_to_end_id, "instruction_id": t.instruction_id,
        "payment_info_id": t.payment_info_id, "counterparty_name": t.counterparty_name,
        "counterparty_account": t.counterparty_account, "remittance_text": t.remittance_text,
        "structured_reference": t.structured_reference, "is_return": t.is_return,
        "return_reason": t.return_reason, "original_end_to_end_id": t.original_end_to_end_id,
    }


# --- checks ------------------------------------------------------------------------------------------------------

def _statement_case(account, document, parsed, problem: str, actor) -> None:
    kind = "statement.unknown_account" if account is None else "statement.currency_mismatch"
    where = f"statement {parsed.statement_id or '(no id)'} at {parsed.source_path or f'line {parsed.source_line}'}"
    if account is None:
        message = (f"{document.filename or 'The file'}: {where} is for account {parsed.account!r}, which is not "
                   "configured. Add the bank account (config_load) and retry, or dismiss if it is not ours.")
    else:
        message = (f"{document.filename or 'The file'}: {where} is in {parsed.currency}, but {account} is a "
                   f"{account.currency} account. Check the account mapping with the bank, then retry.")
    case_open(kind=kind, subject=document, raw_document=document, actor=actor, message=message,
              legal_entity=account.entity if account else None, reason_code=problem.split(" ")[0])


def _money(value: Decimal | None, currency: str) -> str:
    return "—" if value is None else str(Money(Decimal(value), currency).round())


def _checks(statement: Statement, document: RawDocument, actor) -> None:
    account = statement.bank_account
    label = f"{account.name} ({account.identifier}) statement {statement.statement_id or ''} of " \
            f"{statement.statement_date or '?'}"
    if statement.balances_reconcile is False:
        expected = statement.opening_booked + statement.total_credits - statement.total_debits
        case_open(
            kind="statement.unbalanced", subject=statement, legal_entity=account.entity, raw_document=document,
            amount=abs(statement.closing_booked - expected), currency=statement.currency,
            reason_code="balance.mismatch", actor=actor,
            message=f"{label}: opening {_money(statement.opening_booked, statement.currency)} + credits "
            f"{_money(statement.total_credits, statement.currency)} - debits "
            f"{_money(statement.total_debits, statement.currency)} = {_money(expected, statement.currency)}, but "
            f"the bank reports a closing balance of {_money(statement.closing_booked, statement.currency)}.",
        )
    if statement.kind != StatementKind.END_OF_DAY or statement.statement_date is None:
        return
    previous = (
        Statement.objects.filter(bank_account=account, kind=StatementKind.END_OF_DAY,
                                 statement_date__lt=statement.statement_date)
        .exclude(pk=statement.pk).order_by("-statement_date", "-imported_at").first()
    )
    if previous is None:
        return
    problems = []
    if (previous.closing_booked is not None and statement.opening_booked is not None
            and previous.closing_booked != statement.opening_booked):
        problems.append(
            f"its opening balance {_money(statement.opening_booked, statement.currency)} differs from the closing "
            f"balance {_money(previous.closing_booked, statement.currency)} of the previous statement "
            f"({previous.statement_id or previous.pk}, {previous.statement_date})"
        )
    if statement.period_from and previous.period_to and statement.period_from <= previous.period_to:
        problems.append(f"its period starts {statement.period_from}, before the previous one ended "
                        f"{previous.period_to} (overlap)")
    if _is_next(previous.sequence, statement.sequence) is False:
        problems.append(f"its sequence number {statement.sequence} does not follow {previous.sequence}")
    if problems:
        case_open(
            kind="statement.gap", subject=statement, legal_entity=account.entity, raw_document=document,
            reason_code="sequence.gap", actor=actor,
            message=f"{label}: " + "; ".join(problems) + ". A statement may be missing or delivered twice: "
            "fetch the missing one from the bank, or accept with a note if the bank confirms.",
        )


def _is_next(previous: str, current: str) -> bool | None:
    """True/False when both sequence numbers are numeric (a new year may restart at 1), else None."""
    try:
        prev, cur = int(previous.split("/")[0]), int(current.split("/")[0])
    except (ValueError, AttributeError, IndexError):
        return None
    return cur == prev + 1 or cur == 1


def _cash_position(statement: Statement) -> None:
    if statement.statement_date is None or (statement.closing_booked is None and statement.closing_available is None):
        return
    intraday = statement.kind != StatementKind.END_OF_DAY
    existing = CashPosition.objects.filter(bank_account=statement.bank_account, date=statement.statement_date).first()
    if existing is not None and intraday and not existing.intraday:
        return  # an end-of-day figure is never replaced by an intraday one
    CashPosition.objects.update_or_create(
        bank_account=statement.bank_account, date=statement.statement_date,
        defaults={"currency": statement.currency, "closing_booked": statement.closing_booked,
                  "closing_available": statement.closing_available, "intraday": intraday, "statement": statement},
    )


# --- dry run -----------------------------------------------------------------------------------------------------

def _dry_run(content, filename, fmt, mapping) -> ImportResult:
    digest = hashlib.sha256()
    if isinstance(content, (bytes, bytearray)):
        digest.update(content)
        import io

        stream = io.BytesIO(content)
    else:
        stream = content
        pos = stream.tell()
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
        stream.seek(pos)
    result = ImportResult(path=filename, sha256=digest.hexdigest(), dry_run=True)
    try:
        for parsed in parsers.parse(stream, format=fmt, csv_mapping=mapping):
            result.format = result.format or parsed.format
            sr = StatementResult(account=parsed.account, currency=parsed.currency,
                                 opening_balance=parsed.opening_booked, statement_id=parsed.statement_id,
                                 kind=parsed.kind)
            _drain(parsed)
            _fill_totals(sr, parsed)
            result.statements.append(sr)
            result.entries_created += sr.entries
        if not result.statements:
            raise ValidationFailed("The file holds no statement.")
    except parsers.NotAStatementError as exc:
        result.format = exc.format
        result.status = ImportRun.Status.REJECTED
        result.error = exc.message
    except ApplicationError as exc:
        result.status = ImportRun.Status.REJECTED
        result.error = exc.message
    return result


# --- bank channels ----------------------------------------------------------------------------------------------

CHANNEL_OPERATIONS = {"fetch_statements", "fetch_status_reports"}


def channel_documents_subscriber(event) -> None:
    """Outbox subscriber: files a bank channel fetched are imported through the same pipeline as uploads.

    Writes only run rows in the relay's transaction; the import itself is queued after commit (one task per
    file). A file that already has a run is left alone, so relaying the event twice imports nothing twice.
    """
    if event.type != "connection.documents_received" or event.payload.get("operation") not in CHANNEL_OPERATIONS:
        return
    from apps.statements.tasks import statement_import_run_task

    source = f"channel:{event.payload.get('connection', '')}"[:100]
    for document in RawDocument.objects.filter(pk__in=event.payload.get("documents") or []):
        if document.size == 0 or document.statement_imports.exists():
            continue
        run = ImportRun.objects.create(raw_document=document, source=source)
        transaction.on_commit(lambda run_id=run.pk: statement_import_run_task.delay(run_id))


# --- retry -------------------------------------------------------------------------------------------------------

def statement_document_retry(case) -> str:
    """Retry handler for statement cases about a file: import the kept raw document again."""
    document = case.raw_document
    if document is None:
        raise RetryFailed("The case has no raw document to import again.")
    run = ImportRun.objects.create(raw_document=document, source="retry", created_by=None)
    result = statement_import_run(run_id=run.pk)
    if result.status != ImportRun.Status.IMPORTED:
        raise RetryFailed(result.error or "The file was rejected again.")
    failed = [s.error for s in result.statements if s.error]
    if failed:
        raise RetryFailed("; ".join(failed))
    return f"imported {result.entries_created} new entries ({result.entries_duplicate} already known)"
