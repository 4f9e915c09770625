"""config_load sections owned by the organisation app."""

from django.contrib.auth import get_user_model

from apps.core.config import ConfigError, ItemResult, config_defer, register_section
from apps.core.errors import ValidationFailed
from apps.org import services
from apps.org.models import BankAccount, LegalEntity

REASON = "config_load"


def _result(section: str, key: str, result: services.UpsertResult) -> ItemResult:
    return ItemResult(section, key, result.action, result.changes)


def _load_entity(item: dict, *, actor) -> ItemResult:
    if "erp_connection" in item:  # connections load after entities: route once everything is in
        config_defer(lambda: _result("entities", f"{item['code']} erp_connection", services.entity_erp_connection_set(
            entity_code=str(item["code"]), connection_code=item["erp_connection"] or "", actor=actor,
            reason=REASON)))
    result = services.entity_upsert(
        code=str(item["code"]),
        name=item["name"],
        country=item["country"],
        base_currency=item["base_currency"],
        active=item.get("active", True),
        actor=actor,
        reason=REASON,
    )
    return _result("entities", str(item["code"]), result)


def _load_bank_partner(item: dict, *, actor) -> ItemResult:
    result = services.bank_partner_upsert(
        code=str(item["code"]),
        name=item["name"],
        bic=item["bic"],
        statement_formats=item.get("statement_formats") or [],
        payment_format=item.get("payment_format", "pain.001.001.03"),
        channel=item.get("channel", "manual"),
        active=item.get("active", True),
        actor=actor,
        reason=REASON,
    )
    return _result("bank_partners", str(item["code"]), result)


def _load_bank_account(item: dict, *, actor) -> ItemResult:
    result = services.bank_account_upsert(
        entity_code=str(item["entity"]),
        bank_code=str(item["bank"]),
        currency=item["currency"],
        name=item["name"],
        iban=item.get("iban") or "",
        account_number=str(item.get("account_number") or ""),
        routing_code=str(item.get("routing_code") or ""),
        ach_company_id=str(item.get("ach_company_id") or ""),
        active=item.get("active", True),
        actor=actor,
        reason=REASON,
    )
    return _result("bank_accounts", result.obj.identifier, result)


def _load_counterparty(item: dict, *, actor) -> ItemResult:
    result = services.counterparty_upsert(
        entity_code=str(item["entity"]),
        kind=item["kind"],
        code=str(item["code"]),
        name=item["name"],
        country=item.get("country") or "",
        iban=item.get("iban") or "",
        bic=item.get("bic") or "",
        account_number=str(item.get("account_number") or ""),
        routing_code=str(item.get("routing_code") or ""),
        active=item.get("active", True),
        actor=actor,
        reason=REASON,
    )
    return _result("counterparties", f"{item['entity']}/{item['kind']}/{item['code']}", result)


def _load_access(item: dict, *, actor) -> ItemResult:
    user = get_user_model().objects.filter(username=item["user"]).first()
    if user is None:
        raise ValidationFailed(f"user: no user {item['user']!r}.", {"field": "user"})
    codes = item.get("entities") or []
    all_entities = codes == "*"
    entities = []
    if not all_entities:
        if not isinstance(codes, list):
            raise ConfigError("entities: expected a list of entity codes or '*'.")
        for code in codes:
            entity = LegalEntity.objects.filter(code=str(code)).first()
            if entity is None:
                raise ValidationFailed(f"entities: no legal entity with code {code!r}.", {"field": "entities"})
            entities.append(entity)
    accounts = []
    for ident in item.get("bank_accounts") or []:
        account = BankAccount.objects.filter(iban=str(ident).replace(" ", "")).first()
        if account is None:
            raise ValidationFailed(f"bank_accounts: no bank account {ident!r}.", {"field": "bank_accounts"})
        accounts.append(account)
    services.access_grant(user=user, entities=entities, bank_accounts=accounts, all_entities=all_entities, actor=actor)
    return ItemResult("access", user.username, "updated", {})


register_section(
    "entities", order=10, load=_load_entity,
    fields={"code": True, "name": True, "country": True, "base_currency": True, "erp_connection": False,
            "active": False},
)
register_section(
    "bank_partners", order=20, load=_load_bank_partner,
    fields={"code": True, "name": True, "bic": True, "statement_formats": False, "payment_format": False,
            "channel": False, "active": False},
)
register_section(
    "bank_accounts", order=30, load=_load_bank_account,
    fields={"entity": True, "bank": True, "currency": True, "name": True, "iban": False, "account_number": False,
            "routing_code": False, "ach_company_id": False, "active": False},
)
register_section(
    "counterparties", order=40, load=_load_counterparty,
    fields={"entity": True, "kind": True, "code": True, "name": True, "country": False, "iban": False, "bic": False,
            "account_number": False, "routing_code": False, "active": False},
)
register_section(
    "access", order=90, load=_load_access,
    fields={"user": True, "entities": False, "bank_accounts": False},
)


def _load_fx_rate(item: dict, *, actor) -> ItemResult:
    from datetime import date

    day = item["date"] if isinstance(item["date"], date) else date.fromisoformat(str(item["date"]))
    result = services.fx_rate_upsert(date=day, base=item["base"], quote=item["quote"], rate=item["rate"],
                                     source=item.get("source") or "config", actor=actor, reason=REASON)
    return _result("fx_rates", f"{day} {item['base']}/{item['quote']}", result)


register_section("fx_rates", order=15, load=_load_fx_rate,
                 fields={"date": True, "base": True, "quote": True, "rate": True, "source": False})
