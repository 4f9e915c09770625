"""Writes for the organisation: idempotent upserts by natural key (code or IBAN), validated, audited, evented."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from apps.core.audit import audited_save
from apps.core.errors import PermissionDenied, ValidationFailed
from apps.core.events import event_emit
from apps.core.money import validate_currency
from apps.org.models import BankAccount, BankPartner, Channel, Counterparty, LegalEntity, PaymentFormat, StatementFormat
from apps.org.validators import clean_bic, clean_country, clean_iban

BANK_DETAIL_FIELDS = ("iban", "bic", "account_number", "routing_code")


@dataclass
class UpsertResult:
    obj: models.Model
    action: str  # created | updated | unchanged
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _require(actor, perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise PermissionDenied(f"You may not change this configuration (needs {perm}).")


def _apply(obj: models.Model, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    changes = {}
    for name, value in values.items():
        if isinstance(value, models.Model):
            old_id = getattr(obj, f"{name}_id")
            if old_id != value.pk:
                changes[name] = (old_id and str(getattr(obj, name)), str(value))
                setattr(obj, name, value)
            continue
        old = getattr(obj, name)
        if old != value:
            changes[name] = (old, value)
            setattr(obj, name, value)
    return changes


def _save(obj, *, created: bool, changes, actor, reason: str, event_prefix: str) -> UpsertResult:
    if not created and not changes:
        return UpsertResult(obj, "unchanged")
    audited_save(obj, actor=actor, reason=reason or ("created" if created else "updated"))
    event_emit(
        f"{event_prefix}.{'created' if created else 'updated'}",
        obj,
        {"changes": {k: [str(a), str(b)] for k, (a, b) in changes.items()}} if not created else {},
        actor=actor,
    )
    return UpsertResult(obj, "created" if created else "updated", changes)


def _choice(value: str, choices: type[models.TextChoices], field_name: str) -> str:
    if value not in choices.values:
        raise ValidationFailed(
            f"{field_name}: {value!r} is not one of {', '.join(choices.values)}.", {"field": field_name}
        )
    return value


@transaction.atomic
def entity_upsert(
    *, code: str, name: str, country: str, base_currency: str, active: bool = True, actor=None, reason: str = ""
) -> UpsertResult:
    _require(actor, "org.change_legalentity")
    if not code:
        raise ValidationFailed("code: an entity needs a code.", {"field": "code"})
    values = {
        "name": name,
        "country": clean_country(country),
        "base_currency": validate_currency(base_currency, field="base_currency"),
        "active": active,
    }
    obj = LegalEntity.objects.select_for_update().filter(code=code).first()
    created = obj is None
    obj = obj or LegalEntity(code=code)
    changes = _apply(obj, values)
    return _save(obj, created=created, changes=changes, actor=actor, reason=reason, event_prefix="org.entity")


@transaction.atomic
def entity_erp_connection_set(*, entity_code: str, connection_code: str, actor=None, reason: str = "") -> UpsertResult:
    """Route an entity's postings to an ERP connection (or to none with ""). Applies from now on, with history."""
    _require(actor, "org.change_legalentity")
    from apps.connectors.selectors import connection_by_code  # the connection registry is the connectors app's

    entity = LegalEntity.objects.select_for_update().filter(code=entity_code).first()
    if entity is None:
        raise ValidationFailed(f"entity: no legal entity with code {entity_code!r}.", {"field": "entity"})
    connection = None
    if connection_code:
        connection = connection_by_code(connection_code)
        if connection is None or connection.partner_kind != "erp":
            raise ValidationFailed(f"erp_connection: no ERP connection {connection_code!r}.",
                                   {"field": "erp_connection"})
    if connection is not None:
        changes = _apply(entity, {"erp_connection": connection})
    else:
        changes = {"erp_connection": (str(entity.erp_connection), None)} if entity.erp_connection_id else {}
        entity.erp_connection = None
    return _save(entity, created=False, changes=changes, actor=actor, reason=reason or "ERP routing changed",
                 event_prefix="org.entity")


@transaction.atomic
def bank_partner_upsert(
    *,
    code: str,
    name: str,
    bic: str,
    statement_formats: list[str] | None = None,
    payment_format: str = PaymentFormat.PAIN001_03,
    channel: str = Channel.MANUAL,
    active: bool = True,
    actor=None,
    reason: str = "",
) -> UpsertResult:
    _require(actor, "org.change_bankpartner")
    formats = [_choice(f, StatementFormat, "statement_formats") for f in (statement_formats or [])]
    values = {
        "name": name,
        "bic": clean_bic(bic),
        "statement_formats": formats,
        "payment_format": _choice(payment_format, PaymentFormat, "payment_format"),
        "channel": _choice(channel, Channel, "channel"),
        "active": active,
    }
    obj = BankPartner.objects.select_for_update().filter(code=code).first()
    created = obj is None
    obj = obj or BankPartner(code=code)
    changes = _apply(obj, values)
    return _save(obj, created=created, changes=changes, actor=actor, reason=reason, event_prefix="org.bank_partner")


@transaction.atomic
def bank_account_upsert(
    *,
    entity_code: str,
    bank_code: str,
    currency: str,
    name: str,
    iban: str = "",
    account_number: str = "",
    routing_code: str = "",
    ach_company_id: str = "",
    active: bool = True,
    actor=None,
    reason: str = "",
) -> UpsertResult:
    _require(actor, "org.change_bankaccount")
    entity = LegalEntity.objects.filter(code=entity_code).first()
    if entity is None:
        raise ValidationFailed(f"entity: no legal entity with code {entity_code!r}.", {"field": "entity"})
    bank = BankPartner.objects.filter(code=bank_code).first()
    if bank is None:
        raise ValidationFailed(f"bank: no bank partner with code {bank_code!r}.", {"field": "bank"})
    iban = clean_iban(iban) if iban else None
    if not iban and not account_number:
        raise ValidationFailed("iban: a bank account needs an IBAN or an account number.", {"field": "iban"})
    values = {
        "entity": entity,
        "bank": bank,
        "currency": validate_currency(currency),
        "name": name,
        "account_number": account_number,
        "routing_code": routing_code,
        "ach_company_id": ach_company_id,
        "active": active,
    }
    if iban:
        obj = BankAccount.objects.select_for_update().filter(iban=iban).first()
    else:
        obj = (
            BankAccount.objects.select_for_update()
            .filter(iban__isnull=True, bank=bank, account_number=account_number, routing_code=routing_code,
                    currency=currency)
            .first()
        )
    created = obj is None
    obj = obj or BankAccount(iban=iban)
    changes = _apply(obj, values)
    return _save(obj, created=created, changes=changes, actor=actor, reason=reason, event_prefix="org.bank_account")


@transaction.atomic
def counterparty_upsert(
    *,
    entity_code: str,
    kind: str,
    code: str,
    name: str,
    country: str = "",
    iban: str = "",
    bic: str = "",
    account_number: str = "",
    routing_code: str = "",
    active: bool = True,
    actor=None,
    reason: str = "",
) -> UpsertResult:
    """Create or update a counterparty. A change of bank details stamps ``bank_details_changed_at`` and emits
    ``org.counterparty.bank_details_changed`` (payments use it to ask for an extra approval)."""
    _require(actor, "org.change_counterparty")
    entity = LegalEntity.objects.filter(code=entity_code).first()
    if entity is None:
        raise ValidationFailed(f"entity: no legal entity with code {entity_code!r}.", {"field": "entity"})
    values = {
        "kind": _choice(kind, Counterparty.Kind, "kind"),
        "name": name,
        "country": clean_country(country) if country else "",
        "iban": clean_iban(iban) if iban else "",
        "bic": clean_bic(bic) if bic else "",
        "account_number": account_number,
        "routing_code": routing_code,
        "active": active,
    }
    obj = Counterparty.objects.select_for_update().filter(entity=entity, kind=kind, code=code).first()
    created = obj is None
    obj = obj or Counterparty(entity=entity, code=code)
    changes = _apply(obj, values)
    bank_changed = not created and any(f in changes for f in BANK_DETAIL_FIELDS)
    if created or bank_changed:
        obj.bank_details_changed_at = timezone.now()
    result = _save(obj, created=created, changes=changes, actor=actor, reason=reason, event_prefix="org.counterparty")
    if bank_changed:
        event_emit(
            "org.counterparty.bank_details_changed",
            obj,
            {"fields": sorted(f for f in BANK_DETAIL_FIELDS if f in changes)},
            actor=actor,
        )
    return result


@transaction.atomic
def access_grant(
    *, user, entities: list[LegalEntity] = (), bank_accounts: list[BankAccount] = (), all_entities: bool = False,
    actor=None
) -> None:
    """Grant a user access to entities and bank accounts (guardian object permissions), or to every entity."""
    _require(actor, "auth.change_user")
    for entity in entities:
        assign_perm("org.access_legalentity", user, entity)
    for account in bank_accounts:
        assign_perm("org.access_bankaccount", user, account)
    if all_entities:
        assign_perm("org.access_all_entities", user)


@transaction.atomic
def access_revoke(*, user, entities: list[LegalEntity] = (), bank_accounts: list[BankAccount] = (), actor=None) -> None:
    _require(actor, "auth.change_user")
    for entity in entities:
        remove_perm("org.access_legalentity", user, entity)
    for account in bank_accounts:
        remove_perm("org.access_bankaccount", user, account)


@transaction.atomic
def fx_rate_upsert(*, date, base: str, quote: str, rate, source: str = "", actor=None, reason: str = "") -> UpsertResult:
    from decimal import Decimal, InvalidOperation

    from apps.org.models import FxRate

    _require(actor, "org.change_fxrate")
    validate_currency(base, field="base")
    validate_currency(quote, field="quote")
    try:
        value = Decimal(str(rate))
    except InvalidOperation:
        raise ValidationFailed(f"rate: {rate!r} is not a number.", {"field": "rate"}) from None
    if value <= 0:
        raise ValidationFailed("rate: must be greater than zero.", {"field": "rate"})
    obj = FxRate.objects.select_for_update().filter(date=date, base=base, quote=quote).first()
    created = obj is None
    obj = obj or FxRate(date=date, base=base, quote=quote)
    changes = _apply(obj, {"rate": value, "source": source})
    if not created and not changes:
        return UpsertResult(obj, "unchanged")
    audited_save(obj, actor=actor, reason=reason or "fx rate")
    return UpsertResult(obj, "created" if created else "updated", changes)
