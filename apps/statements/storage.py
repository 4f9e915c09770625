"""Storing statement entries in batches, deduplicated by the database.

One way in, two engines underneath: on PostgreSQL the batch's keys are looked up and the new rows ``COPY``-ed
straight in; a batch that must supersede pending entries (or races a concurrent import) goes through a temporary
staging table with ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` and one ``UPDATE ... FROM``. Elsewhere (the
embedded SQLite) the same outcome comes from ``bulk_create``. Either way
the unique constraint on (bank account, natural key) is what refuses a second copy of a booking.

:func:`store_batches` stores a stream of batches; on PostgreSQL it stores one batch in a background thread (same
connection, same transaction) while the caller reads and prepares the next, so the database inserts, indexes and
checks the references of one batch while Python parses the next one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone
import psycopg
from psycopg.adapt import Dumper

from apps.statements.models import EntryStatus, StatementEntry

class JsonArray(tuple):
    """A JSON array column's value in a row (charges, underlying transactions): stored as ``jsonb``, read as a
    tuple of dicts. :data:`NO_ITEMS` is the shared empty one most entries carry."""

    __slots__ = ()


NO_ITEMS = JsonArray()


class _JsonArrayDumper(Dumper):
    oid = psycopg.adapters.types["jsonb"].oid

    def dump(self, obj: JsonArray) -> bytes:
        return json.dumps(obj, cls=DjangoJSONEncoder).encode() if obj else b"[]"


# A row to store is a list of an entry's column values in this order: lists, not dicts, because an import builds one
# per entry and hands it to COPY as it is. ``COLUMN["natural_key"]`` is a column's position. Everything but id and
# created_at (set by the database).
COLUMNS = (
    "bank_account_id", "statement_id", "raw_document_id", "natural_key", "occurrence", "status", "booking_date",
    "value_date", "amount", "currency", "direction", "bank_reference", "servicer_reference", "customer_reference",
    "end_to_end_id", "mandate_id", "counterparty_name", "counterparty_account", "counterparty_bic",
    "remittance_text", "structured_reference", "additional_info", "bank_tx_code", "bank_tx_category",
    "raw_type_code", "is_reversal", "is_return", "return_reason", "original_end_to_end_id", "original_amount",
    "original_currency", "exchange_rate", "charges", "transactions", "source_location", "detail_of_id",
    "superseded_at",
)
if set(COLUMNS) != {f.column for f in StatementEntry._meta.concrete_fields if not f.primary_key} - {"created_at"}:
    raise ImproperlyConfigured("apps.statements.storage.COLUMNS must name every StatementEntry column but id")
COLUMN = {name: i for i, name in enumerate(COLUMNS)}
# What a booked report takes over from the pending one it supersedes.
SUPERSEDE = ["status", "booking_date", "value_date", "statement_id", "raw_document_id", "bank_reference",
             "servicer_reference", "source_location"]
_KEY, _STATUS, _ACCOUNT = COLUMN["natural_key"], COLUMN["status"], COLUMN["bank_account_id"]


def row_dict(row: list) -> dict:
    """A row by column name (for the few rows an import looks at closely)."""
    return dict(zip(COLUMNS, row))


@dataclass
class BatchOutcome:
    created_keys: set[str]
    duplicates: int
    superseded: int


def store_batch(rows: list[list], *, may_supersede: bool = True) -> BatchOutcome:
    """Insert entries that are new, count the rest as duplicates, supersede pending ones that are now booked.

    ``rows`` are lists of column values in :data:`COLUMNS` order; all belong to one bank account.
    ``may_supersede=False`` says the account has no pending entries, so no booking can supersede one.
    """
    if not rows:
        return BatchOutcome(set(), 0, 0)
    if connection.vendor == "postgresql":
        return _store_postgres(rows, may_supersede)
    return _store_generic(rows)


def store_batches(
    batches: Iterable[list[list]],
    *,
    may_supersede: bool = True,
    before_store: Callable[[list[list]], object] | None = None,
) -> Iterator[tuple[list[list], BatchOutcome]]:
    """:func:`store_batch` for each batch of ``batches`` in turn; yields ``(rows, outcome)`` in the same order.

    On PostgreSQL each batch is stored by a background thread on this thread's connection, inside its transaction,
    while the next batch is taken from ``batches`` (for an import: parsed from the file and keyed). The connection
    is idle whenever this generator yields or raises, so the caller may use it between batches, and so may
    ``before_store(rows)``, called just before a batch is handed over. Consume it to the end, or close it: closing
    (or an error from ``batches``) waits for the batch in flight. The entry table's foreign keys are checked as
    rows are written (they are not deferred), so by the thread too.
    Elsewhere the batches are stored one by one.
    """
    if connection.vendor != "postgresql":
        for rows in batches:
            if before_store is not None:
                before_store(rows)
            yield rows, store_batch(rows, may_supersede=may_supersede)
        return
    shared = connections[DEFAULT_DB_ALIAS]
    shared.ensure_connection()
    shared.inc_thread_sharing()
    pending: tuple[list[list], Future] | None = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="statement-store") as worker:
            for rows in batches:
                if pending is not None:
                    stored, future = pending
                    pending = None
                    yield stored, future.result()
                if before_store is not None:
                    before_store(rows)
                pending = rows, worker.submit(_store_shared, shared, rows, may_supersede)
            if pending is not None:
                stored, future = pending
                pending = None
                yield stored, future.result()
    finally:
        # leaving the with block waited for the batch in flight, if any (whatever became of it)
        shared.dec_thread_sharing()


def _store_shared(shared, rows: list[list], may_supersede: bool) -> BatchOutcome:
    """In the worker thread: :func:`store_batch` on the caller's connection (Django connections are per thread)."""
    connections[shared.alias] = shared
    try:
        return store_batch(rows, may_supersede=may_supersede)
    finally:
        del connections[shared.alias]


def _copy_rows(cursor, table: str, rows: list[list]) -> None:
    cursor = cursor.cursor  # the psycopg 3 cursor underneath Django's
    cursor.adapters.register_dumper(JsonArray, _JsonArrayDumper)
    with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def _store_postgres(rows: list[list], may_supersede: bool) -> BatchOutcome:
    """Fast path: look the batch's keys up, COPY the new rows straight into the table. When a booked report must
    supersede a pending one, or a concurrent import inserted one of the keys meanwhile, the batch takes the
    staging path instead (COPY into a temporary table, then INSERT ... ON CONFLICT DO NOTHING and UPDATE)."""
    table = StatementEntry._meta.db_table
    keys = ",".join([r[_KEY] for r in rows])  # hex digests: one text parameter, split by the server
    with connection.cursor() as cursor:
        # One probe of the unique index per key, whatever the statistics say: a large first import makes them
        # stale (the account "has no rows"), and a plain "natural_key = ANY(...)" then reads all of the account's
        # rows for every batch.
        cursor.execute(
            f"SELECT k.key, e.status FROM unnest(string_to_array(%s, ',')) AS k(key), LATERAL (SELECT status "
            f"FROM {table} WHERE bank_account_id = %s AND natural_key = k.key LIMIT 1) AS e",
            [keys, rows[0][_ACCOUNT]],
        )
        existing = dict(cursor.fetchall())
        supersedes = may_supersede and any(
            existing.get(r[_KEY]) == EntryStatus.PENDING and r[_STATUS] == EntryStatus.BOOKED for r in rows
        )
        if not supersedes:
            new_rows = [r for r in rows if r[_KEY] not in existing]
            try:
                if new_rows:
                    with transaction.atomic():  # a savepoint: a concurrent insert of one key sends us the slow way
                        _copy_rows(cursor, table, new_rows)
                return BatchOutcome({r[_KEY] for r in new_rows}, len(rows) - len(new_rows), 0)
            except (IntegrityError, psycopg.IntegrityError):  # raw COPY raises psycopg's own class
                pass
        return _store_staged(cursor, table, rows)


def _store_staged(cursor, table: str, rows: list[list]) -> BatchOutcome:
    cols = ", ".join(COLUMNS)
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS stmt_entry_stage AS SELECT {cols} FROM {table} WITH NO DATA")
    cursor.execute("TRUNCATE stmt_entry_stage")
    _copy_rows(cursor, "stmt_entry_stage", rows)
    cursor.execute(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM stmt_entry_stage "
        f"ON CONFLICT (bank_account_id, natural_key) DO NOTHING RETURNING natural_key"
    )
    created = {r[0] for r in cursor.fetchall()}
    assignments = ", ".join(f"{c} = s.{c}" for c in SUPERSEDE)
    cursor.execute(
        f"UPDATE {table} AS e SET {assignments}, superseded_at = %s FROM stmt_entry_stage AS s "
        f"WHERE e.bank_account_id = s.bank_account_id AND e.natural_key = s.natural_key "
        f"AND e.status = %s AND s.status = %s",
        [timezone.now(), EntryStatus.PENDING, EntryStatus.BOOKED],
    )
    superseded = cursor.rowcount
    return BatchOutcome(created, len(rows) - len(created), superseded)


def _store_generic(rows: list[list]) -> BatchOutcome:
    account_id = rows[0][_ACCOUNT]
    keys = [r[_KEY] for r in rows]
    existing = dict(
        StatementEntry.objects.filter(bank_account_id=account_id, natural_key__in=keys).values_list(
            "natural_key", "status"
        )
    )
    new_rows = [r for r in rows if r[_KEY] not in existing]
    fields = {f.column: f.attname for f in StatementEntry._meta.concrete_fields}
    names = [fields[c] for c in COLUMNS]
    StatementEntry.objects.bulk_create(
        [StatementEntry(**dict(zip(names, r))) for r in new_rows], ignore_conflicts=True
    )
    superseded = 0
    for row in rows:
        if existing.get(row[_KEY]) == EntryStatus.PENDING and row[_STATUS] == EntryStatus.BOOKED:
            superseded += StatementEntry.objects.filter(
                bank_account_id=account_id, natural_key=row[_KEY], status=EntryStatus.PENDING
            ).update(superseded_at=timezone.now(), **{fields[c]: row[COLUMN[c]] for c in SUPERSEDE})
    created = {r[_KEY] for r in new_rows}
    return BatchOutcome(created, len(rows) - len(created), superseded)
