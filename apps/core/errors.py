"""Domain errors. Every failure a user can cause or fix is an ApplicationError with a message a person can act on."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A domain failure: shown to the user as ``{"message": ..., "extra": ...}`` (HTTP 400 unless said otherwise)."""

    status_code = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    """Input that breaks a business rule; ``extra['field']`` names the field when there is one."""


class PermissionDenied(ApplicationError):
    status_code = 403


class NotFound(ApplicationError):
    status_code = 404


class Conflict(ApplicationError):
    status_code = 409


class TransitionNotAllowed(ApplicationError):
    status_code = 409


class RetryFailed(ApplicationError):
    """Raised by a retry handler when the retried work failed again; the case stays open with this message."""
