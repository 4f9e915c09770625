"""Secrets at rest (connection credentials, webhook secrets): Fernet (AES-128-CBC + HMAC-SHA256) with ``settings.FINOPS_CREDENTIALS_KEY``.

``FINOPS_CREDENTIALS_KEY`` may list several keys separated by commas: the first encrypts, all decrypt (key rotation,
see :func:`credentials_reencrypt`). Without it (development and tests only; production refuses to start) the key
is derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from apps.core.errors import ApplicationError


class CredentialsUnreadable(ApplicationError):
    """The stored ciphertext cannot be decrypted with the configured key(s)."""


def _fernet() -> MultiFernet:
    configured = [k.strip() for k in (getattr(settings, "FINOPS_CREDENTIALS_KEY", "") or "").split(",") if k.strip()]
    if not configured:
        derived = hashlib.sha256(b"finops-connection-credentials:" + settings.SECRET_KEY.encode()).digest()
        configured = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(k.encode()) for k in configured])


def credentials_encrypt(credentials: dict[str, Any]) -> bytes:
    if not credentials:
        return b""
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode())


def credentials_decrypt(ciphertext: bytes | memoryview | None) -> dict[str, Any]:
    if not ciphertext:
        return {}
    try:
        return json.loads(_fernet().decrypt(bytes(ciphertext)))
    except (InvalidToken, ValueError):
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with FINOPS_CREDENTIALS_KEY; enter them again."
        ) from None


def credentials_rotate(ciphertext: bytes) -> bytes:
    """Re-encrypt with the first configured key (after adding a new key in front of the old one)."""
    return _fernet().rotate(bytes(ciphertext)) if ciphertext else b""


def secret_values(credentials: dict[str, Any]) -> list[str]:
    """Every string in the credentials worth masking (longest first, so a secret containing another is masked whole)."""
    values: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value)
            if len(text) >= 4:
                values.append(text)
                for line in text.splitlines():  # private keys: mask every line, too
                    if len(line.strip()) >= 8:
                        values.append(line.strip())

    walk(credentials)
    return sorted(set(values), key=len, reverse=True)
