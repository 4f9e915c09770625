"""The signature receivers verify: ``FinOps-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_VERSION = "v1"


def digest(secret: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 over ``f"{timestamp}." + body``: the scheme our deliveries use and expense platforms' pushes
    are verified with."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return f"{SIGNATURE_VERSION}={digest(secret, timestamp, body)}"
