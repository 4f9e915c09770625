"""Parse errors: every failure names where in the file it happened and what was expected there.

``ParseError`` subclasses the project's ``ApplicationError`` (pure Python, no Django), so a view or the DRF
exception handler shows ``{"message": ..., "extra": {"location": ...}}`` to the user instead of a traceback.
"""

from __future__ import annotations

from apps.core.errors import ApplicationError


class ParseError(ApplicationError):
    """A statement file could not be read.

    ``location`` says where: ``"line 12"`` for MT940/BAI2/CSV, ``"line 40, /Document/BkToCstmrStmt/Stmt[2]/Ntry[7]"``
    for camt. The message says what was found and what was expected, never just "could not read".
    """

    def __init__(self, message: str, location: str | None = None):
        full = f"{location}: {message}" if location else message
        super().__init__(full, {"location": location} if location else {})
        self.location = location
        self.reason = message


class HostileXmlError(ParseError):
    """The XML carries a DOCTYPE or entity declaration (XXE, billion laughs, external DTD). Refused unread."""


class UnknownFormatError(ParseError):
    """Content matched none of the supported statement formats."""


class NotAStatementError(ParseError):
    """The file is a recognised format that is not a bank statement (pain.001, pain.002): route it elsewhere."""

    def __init__(self, message: str, location: str | None = None, *, format: str = ""):
        super().__init__(message, location)
        self.format = format
