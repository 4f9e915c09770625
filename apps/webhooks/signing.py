"""The signature receivers verify: ``FinOps-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_VERSION = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"
