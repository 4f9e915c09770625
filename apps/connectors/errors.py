"""Connector failures, classified once so the resilience wrapper knows what to retry.

(Candidates for ``apps/core/errors.py`` once other apps catch them; kept here while only connectors raise them.)
"""

from __future__ import annotations

import re
from typing import Any

from apps.core.errors import ApplicationError


class ConnectorError(ApplicationError):
    """A call to a partner failed."""

    transient = False
    status_code = 502


class TransientError(ConnectorError):
    """Network error, timeout, 5xx or 429: worth retrying. ``retry_after`` (seconds) when the partner said so."""

    transient = True

    def __init__(self, message: str, extra: dict[str, Any] | None = None, *, retry_after: float | None = None):
        super().__init__(message, extra)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """A 4xx or a refused operation: retrying the same call cannot help."""


class AuthenticationFailed(PermanentError):
    """The partner refused our credentials (after a token refresh, for OAuth2)."""


class ConnectorUnavailable(ConnectorError):
    """Retries exhausted or circuit open, and no fallback could do the work."""

    status_code = 503


_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_AUTH_HEADER = re.compile(r"(?P<name>authorization|proxy-authorization|x-api-key|api[-_]?key)(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
                          r"(?P<value>(?:bearer\s+|basic\s+)?[^\s,;\"'}]+)", re.I)
_QUERY_SECRET = re.compile(r"(?P<name>[?&](?:access_token|token|client_secret|password|api_key|key|sig|signature)=)"
                           r"[^&\s]+", re.I)
MASK = "***"
MAX_ERROR = 2000


def sanitize(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Mask credential values, URL user-info, authorization headers and secret query parameters; cap the length."""
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('name')}{m.group('sep')}{MASK}", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m.group('name')}{MASK}", text)
    return text[:MAX_ERROR]
