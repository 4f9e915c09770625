"""The ERP's master data per legal entity: applied from a ``finops.master_data.v1`` document (pulled by the
entity's ERP adapter), read back as one in-memory snapshot for validation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from apps.core.errors import ValidationFailed
from apps.core.events import event_emit
from apps.core.models import RawDocument
from apps.core.services import document_json
from apps.expenses.models import MasterDataSync, MasterKind, MasterRecord
from apps.org.models import FxRate, LegalEntity

SCHEMA = "finops.master_data.v1"
#: document section -> (kind, key field)
SECTIONS = {
    "gl_accounts": (MasterKind.GL_ACCOUNT, "code"),
    "cost_centres": (MasterKind.COST_CENTRE, "code"),
    "tax_codes": (MasterKind.TAX_CODE, "code"),
    "employees": (MasterKind.EMPLOYEE, "id"),
    "periods": (MasterKind.PERIOD, "period"),
    "category_accounts": (MasterKind.CATEGORY, "category"),
}
ACCOUNT_ROLES = ("employee_payable", "rounding")


def _date(value, where: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{where}: {value!r} is not a date (YYYY-MM-DD).", {"field": where}) from None


def _decimal(value, where: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{where}: {value!r} is not a number.", {"field": where}) from None
    if not result.is_finite():
        raise ValidationFailed(f"{where}: {value!r} is not a number.", {"field": where})
    return result


def _record(entity: LegalEntity, kind: str, key: str, item: dict, where: str, now) -> MasterRecord:
    if not isinstance(item, dict):
        raise ValidationFailed(f"{where}: expected an object.", {"field": where})
    code = str(item.get(key) or "").strip()
    if not code:
        raise ValidationFailed(f"{where}.{key}: missing.", {"field": f"{where}.{key}"})
    data = {k: v for k, v in item.items() if k not in (key, "name", "active", "valid_from", "valid_to")}
    valid_from, valid_to = _date(item.get("valid_from"), f"{where}.valid_from"), _date(item.get("valid_to"),
                                                                                          f"{where}.valid_to")
    if kind == MasterKind.PERIOD:
        valid_from, valid_to = _date(item.get("start"), f"{where}.start"), _date(item.get("end"), f"{where}.end")
        if valid_from is None or valid_to is None:
            raise ValidationFailed(f"{where}: a period needs start and end.", {"field": where})
        status = str(item.get("status", "")).lower()
        if status not in ("open", "closed"):
            raise ValidationFailed(f"{where}.status: expected open or closed, not {item.get('status')!r}.",
                                   {"field": f"{where}.status"})
        data["status"] = status
    if kind == MasterKind.TAX_CODE:
        data["rate"] = str(_decimal(item.get("rate"), f"{where}.rate"))
    if kind == MasterKind.CATEGORY and not item.get("gl_account"):
        raise ValidationFailed(f"{where}.gl_account: missing.", {"field": f"{where}.gl_account"})
    return MasterRecord(entity=entity, kind=kind, code=code[:60], name=str(item.get("name") or "")[:200],
                        active=bool(item.get("active", True)), valid_from=valid_from, valid_to=valid_to,
                        data=data, synced_at=now)


def parse_master_data(payload: dict) -> tuple[str, list[tuple[str, str, dict, str]], dict, list[dict]]:
    if not isinstance(payload, dict) or payload.get("schema", SCHEMA) != SCHEMA:
        raise ValidationFailed(f"schema: expected {SCHEMA}.", {"field": "schema"})
    entity = str(payload.get("entity") or "")
    if not entity:
        raise ValidationFailed("entity: missing.", {"field": "entity"})
    items = []
    for section, (kind, key) in SECTIONS.items():
        values = payload.get(section) or []
        if not isinstance(values, list):
            raise ValidationFailed(f"{section}: expected a list.", {"field": section})
        items += [(kind, key, item, f"{section}[{n}]") for n, item in enumerate(values)]
    accounts = payload.get("accounts") or {}
    if not isinstance(accounts, dict):
        raise ValidationFailed("accounts: expected an object.", {"field": "accounts"})
    rates = payload.get("fx_rates") or []
    if not isinstance(rates, list):
        raise ValidationFailed("fx_rates: expected a list.", {"field": "fx_rates"})
    return entity, items, accounts, rates


@transaction.atomic
def master_data_apply(*, payload: dict, document: RawDocument | None = None, connection_code: str = "",
                      actor=None) -> MasterDataSync:
    """Replace the entity's master data with the ERP's snapshot: new records are created, changed ones updated,
    records the ERP no longer lists are deactivated (never deleted: reports refer to them). History keeps every
    change. FX rates go to the hub's reference rates."""
    code, items, accounts, rates = parse_master_data(payload)
    entity = LegalEntity.objects.filter(code=code).first()
    if entity is None:
        raise ValidationFailed(f"entity: no legal entity {code!r}.", {"field": "entity"})
    now = timezone.now()
    wanted = {}
    for kind, key, item, where in items:
        record = _record(entity, kind, key, item, where, now)
        wanted[(record.kind, record.code)] = record
    for role in ACCOUNT_ROLES:
        if accounts.get(role):
            wanted[(MasterKind.ACCOUNT_ROLE, role)] = MasterRecord(
                entity=entity, kind=MasterKind.ACCOUNT_ROLE, code=role, name=role.replace("_", " "),
                data={"gl_account": str(accounts[role])}, synced_at=now)
    existing = {(r.kind, r.code): r for r in MasterRecord.objects.select_for_update().filter(entity=entity)}
    created, updated = [], []
    changes: dict[str, dict[str, int]] = {}

    def count(kind: str, what: str) -> None:
        changes.setdefault(kind, {}).setdefault(what, 0)
        changes[kind][what] += 1

    fields = ("name", "active", "valid_from", "valid_to", "data")
    for key, record in wanted.items():
        old = existing.get(key)
        if old is None:
            created.append(record)
            count(record.kind, "created")
        elif any(getattr(old, f) != getattr(record, f) for f in fields):
            for f in fields:
                setattr(old, f, getattr(record, f))
            old.synced_at = now
            updated.append(old)
            count(record.kind, "updated")
    for key, old in existing.items():
        if key not in wanted and old.active:
            old.active = False
            old.synced_at = now
            updated.append(old)
            count(old.kind, "deactivated")
    user = actor if getattr(actor, "pk", None) else None
    reason = f"ERP sync {connection_code}".strip()
    if created:
        bulk_create_with_history(created, MasterRecord, default_user=user, default_change_reason=reason)
    if updated:
        bulk_update_with_history(updated, MasterRecord, [*fields, "synced_at"], default_user=user,
                                 default_change_reason=reason)
    for n, rate in enumerate(rates):
        where = f"fx_rates[{n}]"
        if not isinstance(rate, dict):
            raise ValidationFailed(f"{where}: expected an object.", {"field": where})
        value = _decimal(rate.get("rate"), f"{where}.rate")
        if value <= 0:
            raise ValidationFailed(f"{where}.rate: must be positive.", {"field": f"{where}.rate"})
        FxRate.objects.update_or_create(
            date=_date(rate.get("date"), f"{where}.date"), base=str(rate.get("base", "")).upper(),
            quote=str(rate.get("quote", "")).upper(), defaults={"rate": value, "source": f"erp:{entity.code}"})
    counts: dict[str, int] = {}
    for kind, _code in wanted:
        counts[kind] = counts.get(kind, 0) + 1
    sync, _ = MasterDataSync.objects.update_or_create(entity=entity, defaults={
        "connection_code": connection_code, "synced_at": now, "raw_document": document, "counts": counts,
        "changes": changes})
    event_emit("expense_master_data.synced", sync, {"entity": entity.code, "counts": counts, "changes": changes},
               actor=actor)
    return sync


def master_data_document_apply(*, document_id: int, connection_code: str = "") -> MasterDataSync:
    document = RawDocument.objects.get(pk=document_id)
    return master_data_apply(payload=document_json(document), document=document, connection_code=connection_code)


# -- reading ---------------------------------------------------------------------------------------------------------

@dataclass
class MasterData:
    """One entity's master data, loaded once for a batch of reports."""

    entity: LegalEntity
    records: dict[str, dict[str, MasterRecord]] = field(default_factory=dict)
    synced_at: dt.datetime | None = None

    def get(self, kind: str, code: str) -> MasterRecord | None:
        return self.records.get(kind, {}).get(code)

    def account_for(self, role: str, fallback: str = "") -> str:
        record = self.get(MasterKind.ACCOUNT_ROLE, role)
        return (record.data.get("gl_account") if record and record.active else "") or fallback

    def period_for(self, day: dt.date) -> MasterRecord | None:
        for record in self.records.get(MasterKind.PERIOD, {}).values():
            if record.valid_from and record.valid_to and record.valid_from <= day <= record.valid_to:
                return record
        return None

    def next_open_period(self, after: dt.date) -> MasterRecord | None:
        periods = sorted((r for r in self.records.get(MasterKind.PERIOD, {}).values()
                          if r.active and r.data.get("status") == "open" and r.valid_from and r.valid_from > after),
                         key=lambda r: r.valid_from)
        return periods[0] if periods else None


def master_data_load(entity_ids) -> dict[int, MasterData]:
    result = {pk: MasterData(entity=e) for pk, e in LegalEntity.objects.in_bulk(list(entity_ids)).items()}
    for record in MasterRecord.objects.filter(entity_id__in=list(result)):
        result[record.entity_id].records.setdefault(record.kind, {})[record.code] = record
    for sync in MasterDataSync.objects.filter(entity_id__in=list(result)):
        result[sync.entity_id].synced_at = sync.synced_at
    return result
