"""Storing statement entries in batches, deduplicated by the database.

One way in, two engines underneath: on PostgreSQL the batch's keys are looked up and the new rows ``COPY``-ed
straight in; a batch that must supersede pending entries (or races a concurrent import) goes through a temporary
staging table with ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` and one ``UPDATE ... FROM``. Elsewhere (the
embedded SQLite) the same outcome comes from ``bulk_create``. Either way
the unique constraint on (bank account, natural key) is what refuses a second copy of a booking.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
import psycopg
from psycopg.types.json import Jsonb

from apps.statements.models import EntryStatus, StatementEntry

# Columns written for a new entry, in COPY order (everything but id).
COLUMNS = [
    f.column
    for f in StatementEntry._meta.concrete_fields
    if not f.primary_key
]
# What a booked report takes over from the pending one it supersedes.
SUPERSEDE = ["status", "booking_date", "value_date", "statement_id", "raw_document_id", "bank_reference",
             "servicer_reference", "source_location"]


@dataclass
class BatchOutcome:
    created_keys: set[str]
    duplicates: int
    superseded: int


_values = itemgetter(*COLUMNS)
_JSON = [COLUMNS.index("charges"), COLUMNS.index("transactions")]


def store_batch(rows: list[dict], *, may_supersede: bool = True) -> BatchOutcome:
    """Insert entries that are new, count the rest as duplicates, supersede pending ones that are now booked.

    ``rows`` are dicts keyed by column name (``StatementEntry`` columns); all belong to one bank account.
    ``may_supersede=False`` says the account has no pending entries, so no booking can supersede one.
    """
    if not rows:
        return BatchOutcome(set(), 0, 0)
    if connection.vendor == "postgresql":
        return _store_postgres(rows, may_supersede)
    return _store_generic(rows)


def _copy_rows(cursor, table: str, rows: list[dict]) -> None:
    cols = ", ".join(COLUMNS)
    with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # the psycopg 3 cursor underneath
        for row in rows:
            values = list(_values(row))
            for i in _JSON:
                values[i] = Jsonb(values[i]) if values[i] else "[]"
            copy.write_row(values)


def _store_postgres(rows: list[dict], may_supersede: bool) -> BatchOutcome:
    """Fast path: look the batch's keys up, COPY the new rows straight into the table. When a booked report must
    supersede a pending one, or a concurrent import inserted one of the keys meanwhile, the batch takes the
    staging path instead (COPY into a temporary table, then INSERT ... ON CONFLICT DO NOTHING and UPDATE)."""
    table = StatementEntry._meta.db_table
    keys = [r["natural_key"] for r in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT natural_key, status FROM {table} WHERE bank_account_id = %s AND natural_key = ANY(%s)",
            [rows[0]["bank_account_id"], keys],
        )
        existing = dict(cursor.fetchall())
        supersedes = may_supersede and any(
            existing.get(r["natural_key"]) == EntryStatus.PENDING and r["status"] == EntryStatus.BOOKED for r in rows
        )
        if not supersedes:
            new_rows = [r for r in rows if r["natural_key"] not in existing]
            try:
                with transaction.atomic():  # a savepoint: a concurrent insert of one key sends us to the slow path
                    _copy_rows(cursor, table, new_rows)
                return BatchOutcome({r["natural_key"] for r in new_rows}, len(rows) - len(new_rows), 0)
            except (IntegrityError, psycopg.IntegrityError):  # raw COPY raises psycopg's own class
                pass
        return _store_staged(cursor, table, rows)


def _store_staged(cursor, table: str, rows: list[dict]) -> BatchOutcome:
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
    return BatchOutcome(created, len(rows) - len(created), cursor.rowcount)


def _store_generic(rows: list[dict]) -> BatchOutcome:
    account_id = rows[0]["bank_account_id"]
    keys = [r["natural_key"] for r in rows]
    existing = dict(
        StatementEntry.objects.filter(bank_account_id=account_id, natural_key__in=keys).values_list(
            "natural_key", "status"
        )
    )
    new_rows = [r for r in rows if r["natural_key"] not in existing]
    fields = {f.column: f.attname for f in StatementEntry._meta.concrete_fields}
    StatementEntry.objects.bulk_create(
        [StatementEntry(**{fields[c]: r[c] for c in COLUMNS}) for r in new_rows], ignore_conflicts=True
    )
    superseded = 0
    for row in rows:
        if existing.get(row["natural_key"]) == EntryStatus.PENDING and row["status"] == EntryStatus.BOOKED:
            superseded += StatementEntry.objects.filter(
                bank_account_id=account_id, natural_key=row["natural_key"], status=EntryStatus.PENDING
            ).update(superseded_at=timezone.now(), **{fields[c]: row[c] for c in SUPERSEDE})
    created = {r["natural_key"] for r in new_rows}
    return BatchOutcome(created, len(rows) - len(created), superseded)
