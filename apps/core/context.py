"""Per-request context (request id) kept in a context variable, so events and logs can name the request."""

from __future__ import annotations

import contextvars
import uuid

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("finops_request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


def new_request_id(value: str | None = None) -> contextvars.Token:
    return _request_id.set(value or uuid.uuid4().hex)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)
