"""config_load section ``connections``. Secrets never sit in the file: ``credentials_env`` names an environment
variable holding the credentials as a JSON object, read at load time and stored encrypted."""

from __future__ import annotations

import json
import os
import re

from apps.connectors import services
from apps.core.config import ItemResult, register_section
from apps.core.errors import ValidationFailed

REASON = "config_load"


def _credentials_from_env(name: str | None) -> dict | None:
    if not name:
        return None
    raw = os.environ.get(str(name))
    if raw is None:
        raise ValidationFailed(f"credentials_env: the environment variable {name} is not set.",
                               {"field": "credentials_env"})
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValidationFailed(f"credentials_env: {name} does not hold a JSON object.",
                               {"field": "credentials_env"}) from None  # the value itself is never echoed
    if not isinstance(value, dict) or not value:
        raise ValidationFailed(f"credentials_env: {name} does not hold a JSON object.", {"field": "credentials_env"})
    return value


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: str, field: str) -> str:
    """``${NAME}`` in an endpoint is replaced by the environment variable NAME (e.g. where a file drop is mounted
    on this machine); an unset variable is an error, never an empty string."""
    def value_of(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValidationFailed(f"{field}: the environment variable {name} is not set.", {"field": field})
        return os.environ[name]

    return _ENV_REFERENCE.sub(value_of, value)


def _int(item: dict, key: str, default):
    value = item.get(key, default)
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValidationFailed(f"{key}: expected a whole number.", {"field": key})


def _load_connection(item: dict, *, actor) -> ItemResult:
    schedule = item.get("schedule")
    result = services.connection_upsert(
        code=str(item["code"]),
        name=str(item["name"]),
        partner_kind=str(item["partner_kind"]),
        partner_ref=str(item["partner"]),
        transport=str(item["transport"]),
        endpoint=_expand(str(item["endpoint"]), "endpoint"),
        options=item.get("options") or {},
        schedule="" if schedule is None else str(schedule),
        timeout_seconds=_int(item, "timeout_seconds", 30),
        rate_limit_per_minute=_int(item, "rate_limit_per_minute", None),
        max_attempts=_int(item, "max_attempts", 3),
        failure_threshold=_int(item, "failure_threshold", 5),
        cooldown_seconds=_int(item, "cooldown_seconds", 60),
        fallback_code=str(item["fallback"]) if item.get("fallback") else None,
        active=bool(item.get("active", True)),
        credentials=_credentials_from_env(item.get("credentials_env")),
        actor=actor,
        reason=REASON,
    )
    return ItemResult("connections", str(item["code"]), result.action, result.changes)


register_section(
    "connections", order=50, load=_load_connection,
    fields={"code": True, "name": True, "partner_kind": True, "partner": True, "transport": True, "endpoint": True,
            "options": False, "schedule": False, "timeout_seconds": False, "rate_limit_per_minute": False,
            "max_attempts": False, "failure_threshold": False, "cooldown_seconds": False, "fallback": False,
            "active": False, "credentials_env": False},
)
