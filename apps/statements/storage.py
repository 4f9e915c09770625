"""Storing statement entries in batches, deduplicated by the database.

One way in, two engines underneath: on PostgreSQL a batch is ``COPY``-ed into a temporary staging table and moved
with ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (and pending entries that are now booked are superseded with
one ``UPDATE ... FROM``); elsewhere (the embedded SQLite) the same outcome comes from ``bulk_create``. Either way
the unique constraint on (bank account, natural key) is what refuses a second copy of a booking.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone
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


def _pg_value(value):
    if isinstance(value, (dict, list)):
        return Jsonb(value)
    return value


def store_batch(rows: list[dict]) -> BatchOutcome:
    """Insert entries that are new, count the rest as duplicates, supersede pending ones that are now booked.

    ``rows`` are dicts keyed by column name (``StatementEntry`` columns); all belong to one bank account.
    """
    if not rows:
        return BatchOutcome(set(), 0, 0)
    if connection.vendor == "postgresql":
        return _store_postgres(rows)
    return _store_generic(rows)


def _store_postgres(rows: list[dict]) -> BatchOutcome:
    table = StatementEntry._meta.db_table
    cols = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS stmt_entry_stage AS SELECT {cols} FROM {table} WITH NO DATA"
        )
        cursor.execute("TRUNCATE stmt_entry_stage")
        raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
        with raw.copy(f"COPY stmt_entry_stage ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_pg_value(row[c]) for c in COLUMNS])
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
