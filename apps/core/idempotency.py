"""Idempotency-Key handling for POSTs that create or act.

The first request with a key claims it by inserting a row (committed at once, outside the request's work), runs,
and stores its response. The same key and body again gets the stored response; the same key with another body
gets 422; a duplicate arriving while the first is still running gets 409. Keys are scoped per user and per
endpoint (method + path) and kept for ``FINOPS_IDEMPOTENCY_TTL`` (24 h by default).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, Conflict
from apps.core.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyMismatch(ApplicationError):
    status_code = 422


class IdempotencyInFlight(Conflict):
    pass


@dataclass(frozen=True)
class Replay:
    status: int
    body: object


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def idempotency_claim(*, user, key: str, method: str, path: str, body: bytes) -> IdempotencyKey | Replay:
    """Claim ``key`` for this request, or say how the earlier request with it ended."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApplicationError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.", {"header": HEADER}
        )
    digest = fingerprint(body)
    now = timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    user=user, key=key, method=method, path=path, fingerprint=digest
                )
        except IntegrityError:
            pass
        existing = IdempotencyKey.objects.filter(user=user, key=key, method=method, path=path).first()
        if existing is None:
            continue  # released between our insert and our read: try again
        expired = existing.created_at < now - settings.FINOPS_IDEMPOTENCY_TTL
        abandoned = (
            existing.state == IdempotencyKey.State.IN_FLIGHT
            and existing.created_at < now - settings.FINOPS_IDEMPOTENCY_IN_FLIGHT_TIMEOUT
        )
        if expired or abandoned:
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.fingerprint != digest:
            raise IdempotencyMismatch(
                f"{HEADER} {key!r} was already used for a different request body on this endpoint.",
                {"header": HEADER},
            )
        if existing.state == IdempotencyKey.State.IN_FLIGHT:
            raise IdempotencyInFlight(
                f"A request with {HEADER} {key!r} is still being processed; retry later.", {"header": HEADER}
            )
        return Replay(status=existing.response_status, body=existing.response_body)
    raise IdempotencyInFlight(f"{HEADER} {key!r} is contended; retry later.", {"header": HEADER})


def idempotency_complete(claim: IdempotencyKey, *, status: int, body: object) -> None:
    """Store the response of a finished request. Server errors release the key so the client can retry."""
    if status >= 500:
        IdempotencyKey.objects.filter(pk=claim.pk).delete()
        return
    # PostgreSQL JSON cannot hold NUL characters; an error message may echo one from hostile input.
    safe = json.loads(json.dumps(body, cls=DjangoJSONEncoder).replace("\\u0000", "\\ufffd"))
    IdempotencyKey.objects.filter(pk=claim.pk).update(
        state=IdempotencyKey.State.COMPLETED, response_status=status, response_body=safe, completed_at=timezone.now()
    )


def idempotency_release(claim: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=claim.pk).delete()


def idempotency_purge() -> int:
    cutoff = timezone.now() - settings.FINOPS_IDEMPOTENCY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
