"""Fault injection for the sandbox bank's HTTP API: outage (503), throttling (429), errors (500), latency,
timeouts and truncated downloads. ``clock`` and ``chance`` are module attributes so tests can replace them."""

from __future__ import annotations

import math
import random
import time

from django.http import JsonResponse
from django.utils import timezone

from apps.sandbox.models import SandboxBank


class _Clock:
    sleep = staticmethod(time.sleep)


clock = _Clock()


def chance() -> float:
    """A number in [0, 100): a fault with rate r% fires when chance() < r."""
    return random.random() * 100  # noqa: S311 - fault injection, not security


def in_outage(bank: SandboxBank) -> bool:
    if not bank.outage_start and not bank.outage_end:
        return False
    now = timezone.now()
    started = bank.outage_start is None or bank.outage_start <= now
    not_over = bank.outage_end is None or now < bank.outage_end
    return started and not_over


def outage_response(bank: SandboxBank) -> JsonResponse:
    retry = 60
    if bank.outage_end:
        retry = max(1, math.ceil((bank.outage_end - timezone.now()).total_seconds()))
    response = JsonResponse({"message": f"Sandbox bank {bank.code} is down for maintenance.",
                             "extra": {"outage_end": bank.outage_end.isoformat() if bank.outage_end else None}},
                            status=503)
    response["Retry-After"] = str(retry)
    return response


def injected_response(bank: SandboxBank) -> JsonResponse | None:
    """The fault answer for this request, if one fires; sleeps for latency and timeouts first."""
    if bank.timeout_seconds:
        clock.sleep(bank.timeout_seconds)
    if bank.latency_ms:
        clock.sleep(bank.latency_ms / 1000)
    if bank.throttle_rate and chance() < bank.throttle_rate:
        response = JsonResponse({"message": "Too many requests.", "extra": {}}, status=429)
        response["Retry-After"] = str(bank.retry_after_seconds)
        return response
    if bank.error_rate and chance() < bank.error_rate:
        return JsonResponse({"message": "Internal server error (injected).", "extra": {}}, status=500)
    return None


def maybe_truncate(bank: SandboxBank, content: bytes) -> bytes:
    return content[: max(1, len(content) // 2)] if bank.malformed_documents else content
