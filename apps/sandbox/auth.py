"""Credentials of the sandbox's API partners (ERPs, expense platform).

Each partner has an API key (``X-API-Key``) and OAuth2 client credentials for the client-credentials grant
(``POST oauth/token`` with HTTP basic ``client_id:client_secret``), stored Fernet-encrypted like the sandbox bank's
key. Access tokens are signed with the server's secret (``django.core.signing``), expire after the partner's
``token_ttl_seconds`` and die when the client secret changes. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from django.core import signing
from django.http import HttpRequest

from apps.core.crypto import credentials_decrypt, credentials_encrypt
from apps.sandbox.models.common import SandboxPartner

TOKEN_SALT = "apps.sandbox.oauth2.access-token"
API_KEY_HEADER = "X-API-Key"


def partner_credentials(partner: SandboxPartner) -> dict[str, str]:
    return {k: str(v) for k, v in credentials_decrypt(bytes(partner.credentials_ciphertext or b"")).items()}


def partner_credentials_ensure(partner: SandboxPartner, *, api_key: str | None = None, client_id: str | None = None,
                               client_secret: str | None = None) -> dict[str, str]:
    """Set the given values, keep the stored ones, generate the missing ones; saves when something changed."""
    current = partner_credentials(partner)
    wanted = {
        "api_key": api_key or current.get("api_key") or secrets.token_urlsafe(24),
        "client_id": client_id or current.get("client_id") or f"finops-hub-{partner.code}",
        "client_secret": client_secret or current.get("client_secret") or secrets.token_urlsafe(32),
    }
    if wanted != current:
        partner.credentials_ciphertext = credentials_encrypt(wanted)
        partner.save(update_fields=["credentials_ciphertext", "updated_at"])
    return wanted


def _same(presented: str, expected: str) -> bool:
    return bool(presented and expected) and hmac.compare_digest(presented.encode(), expected.encode())


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _audience(partner: SandboxPartner) -> str:
    return f"{partner._meta.label_lower}:{partner.code}"


def token_issue(partner: SandboxPartner, *, client_id: str, client_secret: str) -> dict | None:
    """An access token for the right client credentials, else None."""
    creds = partner_credentials(partner)
    if not (_same(client_id, creds.get("client_id", "")) and _same(client_secret, creds.get("client_secret", ""))):
        return None
    token = signing.dumps({"aud": _audience(partner), "fp": _fingerprint(creds["client_secret"])}, salt=TOKEN_SALT)
    return {"access_token": token, "token_type": "Bearer", "expires_in": partner.token_ttl_seconds}


def token_valid(partner: SandboxPartner, token: str) -> bool:
    try:
        claims = signing.loads(token, salt=TOKEN_SALT, max_age=partner.token_ttl_seconds)
    except signing.BadSignature:  # also SignatureExpired
        return False
    secret = partner_credentials(partner).get("client_secret", "")
    return (isinstance(claims, dict) and claims.get("aud") == _audience(partner)
            and bool(secret) and claims.get("fp") == _fingerprint(secret))


def request_authorised(partner: SandboxPartner, request: HttpRequest) -> bool:
    """``X-API-Key: <key>``, or ``Authorization: Bearer <access token>``."""
    key = request.headers.get(API_KEY_HEADER, "")
    if key:
        return _same(key, partner_credentials(partner).get("api_key", ""))
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return token_valid(partner, auth[7:].strip())
    return False


def client_credentials(request: HttpRequest) -> tuple[str, str]:
    """The client id and secret of a token request: HTTP basic (preferred, RFC 6749 2.3.1) or form fields."""
    auth = request.headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            pair = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = pair.partition(":")
        return client_id, secret
    return request.POST.get("client_id", ""), request.POST.get("client_secret", "")
