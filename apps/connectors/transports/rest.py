"""An httpx client base for REST partners: timeouts, error classification and authentication.

Retries are *not* done here: the resilience wrapper (``apps.connectors.resilience.call``) owns them, so every
transport retries by the same rules. The one exception is OAuth2: a 401 drops the cached token, fetches a new one
and repeats the request once (an expired or revoked token is not a failure of the partner).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from apps.connectors.errors import AuthenticationFailed, PermanentError, TransientError

USER_AGENT = "FinOpsConsole-Connector/1.0"
_override = threading.local()


@contextlib.contextmanager
def use_http_transport(transport: httpx.BaseTransport) -> Iterator[None]:
    """Route this thread's REST clients through ``transport`` (e.g. ``httpx.MockTransport`` in tests)."""
    previous = getattr(_override, "transport", None)
    _override.transport = transport
    try:
        yield
    finally:
        _override.transport = previous


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass
class _Token:
    value: str
    expires_at: float  # monotonic


class TokenCache:
    """OAuth2 client-credentials tokens, in process memory only (never in the database or a shared cache)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def get(self, key: str, *, margin: float) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is None or self.clock() >= token.expires_at - margin:
                return None
            return token.value

    def put(self, key: str, value: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[key] = _Token(value, self.clock() + expires_in)

    def drop(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()


class RestClient:
    """One partner's REST API. ``before_request`` runs before every HTTP request (the rate limiter)."""

    def __init__(self, *, base_url: str, credentials: dict, options: dict, timeout: float,
                 before_request: Callable[[], None] | None = None, tokens: TokenCache | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise PermanentError("A REST endpoint is a base URL such as https://api.bank.example/v1/.")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1") and not options.get(
                "allow_plain_http"):
            raise PermanentError("A REST endpoint must use https (plain http only for localhost).")
        self.base_url = base_url.rstrip("/") + "/"
        self.credentials = credentials
        self.options = options
        self.timeout = float(timeout)
        self.before_request = before_request or (lambda: None)
        self.tokens = tokens or TOKENS
        self.auth_kind = options.get("auth") or self._guess_auth()
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout),
            transport=getattr(_override, "transport", None),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def _guess_auth(self) -> str:
        if self.credentials.get("client_id"):
            return "oauth2"
        if self.credentials.get("token"):
            return "bearer"
        if self.credentials.get("api_key"):
            return "api_key"
        if self.credentials.get("username"):
            return "basic"
        return "none"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- authentication ------------------------------------------------------------------------------------------
    def _token_key(self) -> str:
        secret = hashlib.sha256(str(self.credentials.get("client_secret", "")).encode()).hexdigest()[:16]
        return f"{self.options.get('token_url')}|{self.credentials.get('client_id')}|{secret}|{self.options.get('scope', '')}"

    def _fetch_token(self) -> str:
        token_url = self.options.get("token_url")
        if not token_url:
            raise PermanentError("OAuth2 needs options.token_url.")
        data = {"grant_type": "client_credentials"}
        if self.options.get("scope"):
            data["scope"] = self.options["scope"]
        if self.options.get("audience"):
            data["audience"] = self.options["audience"]
        self.before_request()
        try:
            response = self._client.post(
                token_url, data=data,
                auth=(str(self.credentials.get("client_id", "")), str(self.credentials.get("client_secret", ""))),
            )
        except httpx.TimeoutException:
            raise TransientError(f"The token endpoint timed out after {self.timeout:g} s.") from None
        except httpx.TransportError as exc:
            raise TransientError(f"The token endpoint is not reachable ({type(exc).__name__}).") from None
        if response.status_code in (400, 401, 403):
            raise AuthenticationFailed(f"The token endpoint refused our client credentials (HTTP {response.status_code}).")
        self._raise_for_status(response, "token request")
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in") or 300)
        except (ValueError, KeyError, TypeError):
            raise PermanentError("The token endpoint answered without an access_token.") from None
        self.tokens.put(self._token_key(), token, expires_in)
        return token

    def _auth_headers(self, *, fresh: bool = False) -> dict[str, str]:
        if self.auth_kind == "oauth2":
            margin = float(self.options.get("token_refresh_margin", 30))
            token = None if fresh else self.tokens.get(self._token_key(), margin=margin)
            return {"Authorization": f"Bearer {token or self._fetch_token()}"}
        if self.auth_kind == "bearer":
            return {"Authorization": f"Bearer {self.credentials.get('token', '')}"}
        if self.auth_kind == "api_key":
            return {self.options.get("api_key_header", "X-API-Key"): str(self.credentials.get("api_key", ""))}
        if self.auth_kind == "basic":
            pair = f"{self.credentials.get('username', '')}:{self.credentials.get('password', '')}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        return {}

    # -- requests ------------------------------------------------------------------------------------------------
    @staticmethod
    def _raise_for_status(response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 429 or status >= 500:
            raise TransientError(
                f"{what}: HTTP {status}.", {"http_status": status},
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise AuthenticationFailed(f"{what}: HTTP {status} (credentials refused).", {"http_status": status})
        snippet = response.text[:200].strip() if response.content else ""
        raise PermanentError(f"{what}: HTTP {status}{': ' + snippet if snippet else ''}.", {"http_status": status})

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        what = f"{method} {path}"
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (1, 2):
            self.before_request()
            try:
                response = self._client.request(
                    method, path, headers={**headers, **self._auth_headers(fresh=attempt == 2)}, **kwargs
                )
            except httpx.TimeoutException:
                raise TransientError(f"{what}: timed out after {self.timeout:g} s.") from None
            except httpx.TransportError as exc:
                raise TransientError(f"{what}: {type(exc).__name__}.") from None
            if response.status_code == 401 and self.auth_kind == "oauth2" and attempt == 1:
                self.tokens.drop(self._token_key())  # revoked or expired early: one fresh token, one more try
                continue
            self._raise_for_status(response, what)
            return response
        raise AssertionError("unreachable")

    def get_json(self, path: str, **kwargs: Any) -> Any:
        response = self.request("GET", path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise PermanentError(f"GET {path}: the answer is not JSON.") from None

    def ping(self) -> dict:
        path = self.options.get("health_path", "")
        response = self.request("GET", path)
        return {"http_status": response.status_code}
