"""camt.054 notifications that detail a batched booking (one camt.053 entry, many transactions) are linked to that
booking instead of being imported as money of their own, whichever of the two files arrives first."""

from __future__ import annotations

from apps.statements.models import EntryTransaction, StatementEntry, StatementKind
from apps.statements.storage import COLUMN

# rows are lists in storage.COLUMNS order
_E2E, _TRANSACTIONS, _DETAIL_OF, _KEY = (
    COLUMN["end_to_end_id"], COLUMN["transactions"], COLUMN["detail_of_id"], COLUMN["natural_key"]
)


def _detail_ids(row: list) -> list[str]:
    ids = [row[_E2E]] if row[_E2E] else []
    ids += [t["end_to_end_id"] for t in row[_TRANSACTIONS] if t.get("end_to_end_id")]
    return [i for i in ids if i and i.upper() != "NOTPROVIDED"]


def notification_rows_link(account_id: int, rows: list[list]) -> int:
    """Before storing notification entries: point each at the batched booking that carries its end-to-end id."""
    wanted = {i for r in rows for i in _detail_ids(r)}
    if not wanted:
        return 0
    parents = dict(
        EntryTransaction.objects.filter(bank_account_id=account_id, end_to_end_id__in=wanted).values_list(
            "end_to_end_id", "entry_id"
        )
    )
    linked = 0
    for row in rows:
        parent = next((parents[i] for i in _detail_ids(row) if i in parents), None)
        if parent is not None:
            row[_DETAIL_OF] = parent
            linked += 1
    return linked


def batch_rows_register(account_id: int, rows: list[list], created_keys: set[str]) -> int:
    """After storing bookings: index the transactions of new batched entries and adopt the notifications that
    arrived before them. Returns how many notification entries were linked."""
    batches = [r for r in rows if r[_KEY] in created_keys and len(r[_TRANSACTIONS]) > 1]
    if not batches:
        return 0
    ids = dict(
        StatementEntry.objects.filter(
            bank_account_id=account_id, natural_key__in=[r[_KEY] for r in batches]
        ).values_list("natural_key", "id")
    )
    refs = [
        EntryTransaction(entry_id=ids[r[_KEY]], bank_account_id=account_id, end_to_end_id=t["end_to_end_id"],
                         amount=t["amount"])
        for r in batches for t in r[_TRANSACTIONS] if t.get("end_to_end_id")
    ]
    EntryTransaction.objects.bulk_create(refs, batch_size=1000)
    by_e2e = {ref.end_to_end_id: ref.entry_id for ref in refs}
    orphans = list(
        StatementEntry.objects.filter(
            bank_account_id=account_id, statement__kind=StatementKind.NOTIFICATION, detail_of__isnull=True,
            end_to_end_id__in=list(by_e2e),
        )
    )
    for orphan in orphans:
        orphan.detail_of_id = by_e2e[orphan.end_to_end_id]
    StatementEntry.objects.bulk_update(orphans, ["detail_of"], batch_size=1000)
    return len(orphans)
