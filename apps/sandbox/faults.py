"""Fault injection for every sandbox partner (bank, ERPs, expense platform): outage (503), throttling (429),
errors (500), latency, timeouts and malformed (truncated) payloads.

A partner is any model with the :class:`~apps.sandbox.models.common.FaultSettings` fields and a ``label``.
``clock`` and ``chance`` are module attributes so tests can replace them.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from typing import Any

from django.http import JsonResponse
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.sandbox.models.common import FaultSettings

FAULT_FIELDS = ("latency_ms", "error_rate", "timeout_seconds", "throttle_rate", "retry_after_seconds",
                "malformed_documents", "outage_start", "outage_end")


class _Clock:
    sleep = staticmethod(time.sleep)


clock = _Clock()


def chance() -> float:
    """A number in [0, 100): a fault with rate r% fires when chance() < r."""
    return random.random() * 100  # noqa: S311 - fault injection, not security


def in_outage(partner: FaultSettings) -> bool:
    if not partner.outage_start and not partner.outage_end:
        return False
    now = timezone.now()
    started = partner.outage_start is None or partner.outage_start <= now
    not_over = partner.outage_end is None or now < partner.outage_end
    return started and not_over


def outage_response(partner: FaultSettings) -> JsonResponse:
    retry = 60
    if partner.outage_end:
        retry = max(1, math.ceil((partner.outage_end - timezone.now()).total_seconds()))
    response = JsonResponse({"message": f"{partner.label} is down for maintenance.",
                             "extra": {"outage_end": partner.outage_end.isoformat() if partner.outage_end else None}},
                            status=503)
    response["Retry-After"] = str(retry)
    return response


def injected_response(partner: FaultSettings) -> JsonResponse | None:
    """The fault answer for this request, if one fires; sleeps for latency and timeouts first."""
    if partner.timeout_seconds:
        clock.sleep(partner.timeout_seconds)
    if partner.latency_ms:
        clock.sleep(partner.latency_ms / 1000)
    if partner.throttle_rate and chance() < partner.throttle_rate:
        response = JsonResponse({"message": "Too many requests.", "extra": {}}, status=429)
        response["Retry-After"] = str(partner.retry_after_seconds)
        return response
    if partner.error_rate and chance() < partner.error_rate:
        return JsonResponse({"message": "Internal server error (injected).", "extra": {}}, status=500)
    return None


def maybe_truncate(partner: FaultSettings, content: bytes) -> bytes:
    return content[: max(1, len(content) // 2)] if partner.malformed_documents else content


def faults_apply(partner: FaultSettings, *, clear: bool = False, **settings: Any) -> FaultSettings:
    """Validate and set fault settings on ``partner`` (not saved); ``clear`` resets all of them first."""
    unknown = set(settings) - set(FAULT_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fault setting(s): {', '.join(sorted(unknown))}.", {"fields": sorted(unknown)})
    if clear:
        for f in FAULT_FIELDS:
            setattr(partner, f, type(partner)._meta.get_field(f).get_default())
    for f, value in settings.items():
        if f in ("outage_start", "outage_end"):
            if isinstance(value, str) and value:
                try:
                    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    raise ValidationFailed(f"{f}: {value!r} is not an ISO 8601 date-time.", {"field": f}) from None
                value = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
            value = value or None
        elif f == "malformed_documents":
            value = value in (True, "true", "1", 1, "yes", "on")
        else:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ValidationFailed(f"{f}: {value!r} is not a whole number.", {"field": f}) from None
            if value < 0 or (f in ("error_rate", "throttle_rate") and value > 100):
                raise ValidationFailed(f"{f}: {value} is out of range.", {"field": f})
        setattr(partner, f, value)
    if partner.outage_start and partner.outage_end and partner.outage_end <= partner.outage_start:
        raise ValidationFailed("outage_end must be after outage_start.", {"field": "outage_end"})
    return partner


def faults_json(partner: FaultSettings) -> dict[str, Any]:
    values = {f: getattr(partner, f) for f in FAULT_FIELDS}
    return {f: (v.isoformat() if isinstance(v, dt.datetime) else v) for f, v in values.items()}
