"""Subscriptions: admins create, change, (de)activate them and rotate their signing secret.

The secret is generated here, encrypted at once (``apps.core.crypto``) and returned to the caller exactly twice in
its life: by ``webhook_subscription_create`` and by ``webhook_subscription_rotate_secret``. It never reaches
history, events, logs or any later answer.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.connectors.errors import sanitize
from apps.core.audit import audited_save
from apps.core.crypto import credentials_decrypt, credentials_encrypt
from apps.core.errors import NotFound, PermissionDenied, ValidationFailed
from apps.core.events import event_emit
from apps.org.models import LegalEntity
from apps.webhooks.models import DEFAULT_MAX_ATTEMPTS, WebhookSubscription

logger = logging.getLogger(__name__)

ADD = "webhooks.add_webhooksubscription"
CHANGE = "webhooks.change_webhooksubscription"
MAX_ATTEMPTS_LIMIT = 20
_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")
_UNSET: Any = object()


def _require(actor, perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise PermissionDenied(f"You may not do this (needs {perm}).")


def secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def subscription_secret(subscription: WebhookSubscription) -> str:
    """The plain secret, for signing only (never display it)."""
    return credentials_decrypt(subscription.secret_ciphertext).get("secret", "")


def display_url(url: str) -> str:
    """The URL as it may appear in logs and case messages (secret-looking query parameters masked)."""
    return sanitize(url)


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("name: give the subscription a name of 1 to 200 characters.", {"field": "name"})
    return name


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    allowed = ("https",) if settings.PRODUCTION else ("https", "http")
    if parts.scheme not in allowed:
        need = "https://" if settings.PRODUCTION else "http:// or https://"
        raise ValidationFailed(f"url: the receiver URL must start with {need}.", {"field": "url"})
    if not parts.hostname:
        raise ValidationFailed("url: the receiver URL has no host.", {"field": "url"})
    if parts.username or parts.password:
        raise ValidationFailed("url: no credentials in the URL; receivers authenticate us by the signature.",
                               {"field": "url"})
    if len(url) > 2000:
        raise ValidationFailed("url: at most 2,000 characters.", {"field": "url"})
    return url


def _clean_event_types(event_types: Any) -> list[str]:
    if isinstance(event_types, str):
        event_types = [t for t in re.split(r"[\s,]+", event_types) if t]
    if not isinstance(event_types, (list, tuple)) or not event_types:
        raise ValidationFailed('event_types: list at least one event type, a prefix such as "case.*", or "*".',
                               {"field": "event_types"})
    cleaned: list[str] = []
    for value in event_types:
        if not isinstance(value, str) or not _PATTERN.match(value.strip()):
            raise ValidationFailed(
                f'event_types: {value!r} is neither an event type (case.opened), a prefix (case.*) nor "*".',
                {"field": "event_types"},
            )
        if value.strip() not in cleaned:
            cleaned.append(value.strip())
    return cleaned


def _clean_entity(code: str | None) -> LegalEntity | None:
    if not code:
        return None
    entity = LegalEntity.objects.filter(code=code).first()
    if entity is None:
        raise ValidationFailed(f"legal_entity: no legal entity with code {code!r}.", {"field": "legal_entity"})
    return entity


def _clean_max_attempts(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise ValidationFailed(f"max_attempts: a whole number from 1 to {MAX_ATTEMPTS_LIMIT}.",
                               {"field": "max_attempts"})
    return value


def _event_payload(sub: WebhookSubscription, **extra) -> dict:
    return {"name": sub.name, "url": display_url(sub.url), "event_types": sub.event_types, "active": sub.active,
            "entity": sub.legal_entity.code if sub.legal_entity_id else None, **extra}


def _save(sub: WebhookSubscription, *, actor, reason: str, update_fields=None) -> None:
    try:
        with transaction.atomic():
            audited_save(sub, actor=actor, reason=reason, update_fields=update_fields)
    except IntegrityError:
        raise ValidationFailed(f"name: a subscription named {sub.name!r} exists already.", {"field": "name"}) from None


@transaction.atomic
def webhook_subscription_create(
    *,
    name: str,
    url: str,
    event_types: list[str] | str,
    actor,
    legal_entity_code: str | None = None,
    active: bool = True,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    reason: str = "",
) -> tuple[WebhookSubscription, str]:
    """Create a subscription. Returns ``(subscription, secret)``: show the secret to the admin once."""
    _require(actor, ADD)
    secret = secret_generate()
    sub = WebhookSubscription(
        name=_clean_name(name), url=_clean_url(url), event_types=_clean_event_types(event_types),
        legal_entity=_clean_entity(legal_entity_code), active=bool(active),
        max_attempts=_clean_max_attempts(max_attempts), secret_ciphertext=credentials_encrypt({"secret": secret}),
        secret_rotated_at=timezone.now(), created_by=actor if getattr(actor, "pk", None) else None,
    )
    _save(sub, actor=actor, reason=reason or "created")
    event_emit("webhook.subscription.created", sub, _event_payload(sub), actor=actor)
    logger.info("webhooks: subscription %s (%s) created by %s", sub.pk, sub.name, getattr(actor, "username", "system"))
    return sub, secret


def _lock(subscription_id: int) -> WebhookSubscription:
    sub = WebhookSubscription.objects.select_for_update(of=("self",)).select_related("legal_entity").filter(
        pk=subscription_id).first()
    if sub is None:
        raise NotFound(f"Webhook subscription {subscription_id} does not exist.")
    return sub


@transaction.atomic
def webhook_subscription_update(
    *,
    subscription_id: int,
    actor,
    name: str | None = None,
    url: str | None = None,
    event_types: list[str] | str | None = None,
    legal_entity_code: str | None = _UNSET,
    active: bool | None = None,
    max_attempts: int | None = None,
    reason: str = "",
) -> WebhookSubscription:
    """Change the given fields (``None`` leaves a field as it is; ``legal_entity_code=None`` removes the filter)."""
    _require(actor, CHANGE)
    sub = _lock(subscription_id)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _clean_name(name)
    if url is not None:
        values["url"] = _clean_url(url)
    if event_types is not None:
        values["event_types"] = _clean_event_types(event_types)
    if legal_entity_code is not _UNSET:
        values["legal_entity"] = _clean_entity(legal_entity_code)
    if active is not None:
        values["active"] = bool(active)
    if max_attempts is not None:
        values["max_attempts"] = _clean_max_attempts(max_attempts)
    changed = sorted(k for k, v in values.items() if getattr(sub, k) != v)
    if not changed:
        return sub
    for key in changed:
        setattr(sub, key, values[key])
    _save(sub, actor=actor, reason=reason or f"changed {', '.join(changed)}", update_fields=changed)
    event_emit("webhook.subscription.updated", sub, _event_payload(sub, changes=changed), actor=actor)
    return sub


@transaction.atomic
def webhook_subscription_set_active(*, subscription_id: int, active: bool, actor, reason: str = "") -> WebhookSubscription:
    """Deactivate (no new deliveries; queued ones fail with a note saying so) or activate again."""
    return webhook_subscription_update(subscription_id=subscription_id, actor=actor, active=active,
                                       reason=reason or ("activated" if active else "deactivated"))


@transaction.atomic
def webhook_subscription_rotate_secret(*, subscription_id: int, actor, reason: str = "") -> tuple[WebhookSubscription, str]:
    """Replace the secret at once (the next attempt is signed with the new one). Returns ``(subscription, secret)``."""
    _require(actor, CHANGE)
    sub = _lock(subscription_id)
    secret = secret_generate()
    sub.secret_ciphertext = credentials_encrypt({"secret": secret})
    sub.secret_rotated_at = timezone.now()
    audited_save(sub, actor=actor, reason=f"secret rotated{': ' + reason if reason else ''}",
                 update_fields=["secret_ciphertext", "secret_rotated_at"])
    event_emit("webhook.subscription.secret_rotated", sub, _event_payload(sub), actor=actor)
    logger.info("webhooks: subscription %s secret rotated by %s", sub.pk, getattr(actor, "username", "system"))
    return sub, secret
