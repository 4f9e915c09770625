"""Reads for the organisation. Entity and bank-account access is an object permission checked with
``accept_global_perms=False``: a role group's model permission never opens every entity."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from apps.org.models import BankAccount, BankPartner, Counterparty, LegalEntity


def sees_all_entities(user) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.has_perm("org.access_all_entities")


def entity_list(*, user) -> QuerySet[LegalEntity]:
    if not (user and user.is_authenticated and user.is_active):
        return LegalEntity.objects.none()
    if sees_all_entities(user):
        return LegalEntity.objects.all()
    return get_objects_for_user(
        user, "org.access_legalentity", klass=LegalEntity, accept_global_perms=False, with_superuser=True
    )


def entity_ids(*, user) -> set[int] | None:
    """The ids of the entities ``user`` may see, or ``None`` for all of them."""
    if sees_all_entities(user):
        return None
    cache = getattr(user, "_finops_entity_ids", None)
    if cache is None:
        cache = set(entity_list(user=user).values_list("pk", flat=True))
        if user is not None:
            user._finops_entity_ids = cache
    return cache


def entity_get(*, user, pk: int) -> LegalEntity:
    return entity_list(user=user).get(pk=pk)


def can_access_entity(*, user, entity_id: int | None) -> bool:
    ids = entity_ids(user=user)
    return ids is None or entity_id in ids


def bank_account_list(*, user) -> QuerySet[BankAccount]:
    """Accounts of the user's entities, plus accounts granted to the user one by one."""
    if not (user and user.is_authenticated and user.is_active):
        return BankAccount.objects.none()
    qs = BankAccount.objects.select_related("entity", "bank")
    if sees_all_entities(user):
        return qs
    direct = get_objects_for_user(
        user, "org.access_bankaccount", klass=BankAccount, accept_global_perms=False
    ).values("pk")
    return qs.filter(Q(entity__in=entity_list(user=user).values("pk")) | Q(pk__in=direct))


def bank_partner_list(*, user) -> QuerySet[BankPartner]:
    return BankPartner.objects.all() if user and user.is_authenticated else BankPartner.objects.none()


def counterparty_list(*, user) -> QuerySet[Counterparty]:
    return Counterparty.objects.select_related("entity").filter(entity__in=entity_list(user=user).values("pk"))


FX_MAX_AGE_DAYS = 7


def fx_convert(*, amount, from_currency: str, to_currency: str, day) -> "Decimal | None":
    """``amount`` in ``to_currency`` at the latest rate on or before ``day`` (at most a week old), or None."""
    from datetime import timedelta
    from decimal import Decimal

    from apps.org.models import FxRate

    if from_currency == to_currency:
        return Decimal(amount)
    since = day - timedelta(days=FX_MAX_AGE_DAYS)
    direct = FxRate.objects.filter(base=from_currency, quote=to_currency, date__lte=day, date__gte=since).first()
    if direct is not None:
        return Decimal(amount) * direct.rate
    inverse = FxRate.objects.filter(base=to_currency, quote=from_currency, date__lte=day, date__gte=since).first()
    if inverse is not None:
        return Decimal(amount) / inverse.rate
    return None
