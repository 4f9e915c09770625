"""Checks on payment instructions: identifiers, precision, business days, the SEPA character set.

Each failure names the instruction and the field (``instructions[3].creditor.iban``) and says why.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import holidays
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from apps.core.errors import ValidationFailed
from apps.core.money import Money

# Holiday calendars per currency: TARGET2 for EUR, the Federal Reserve for USD, else the issuing country.
CALENDARS = {"EUR": ("financial", "ECB"), "USD": ("financial", "NYSE"), "GBP": ("country", "GB"),
             "CHF": ("country", "CH"), "SEK": ("country", "SE"), "DKK": ("country", "DK"), "NOK": ("country", "NO"),
             "PLN": ("country", "PL"), "CZK": ("country", "CZ"), "HUF": ("country", "HU"), "JPY": ("country", "JP"),
             "CAD": ("country", "CA"), "AUD": ("country", "AU")}
# SEPA basic Latin character set (EPC guidelines): letters, digits and / - ? : ( ) . , ' + and space.
SEPA_ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ ")
SEPA_REPLACEMENTS = {"ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "&": "+",
                     "€": "EUR", "_": "-", "@": "(at)", "\"": "'", "!": ".", ";": ",", "*": ".", "#": " "}


@dataclass
class Problems:
    items: list[dict] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.items.append({"field": where, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
            raise ValidationFailed(f"{first['field']}: {first['message']}{more}", {"errors": self.items})


@lru_cache(maxsize=64)
def _calendar(currency: str, year: int):
    kind, code = CALENDARS.get(currency, ("country", None))
    if code is None:
        return {}
    if kind == "financial":
        return holidays.financial_holidays(code, years=year)
    return holidays.country_holidays(code, years=year)


def is_business_day(day: date, currency: str) -> bool:
    return day.weekday() < 5 and day not in _calendar(currency, day.year)


def next_business_day(day: date, currency: str) -> date:
    while not is_business_day(day, currency):
        day += timedelta(days=1)
    return day


def check_iban(value: str, where: str, problems: Problems) -> tuple[str, str]:
    """The IBAN in compact form and the bank's BIC where schwifty's registry knows it (else "")."""
    try:
        iban = IBAN(value)
    except SchwiftyException as exc:
        problems.add(where, f"{value!r} is not a valid IBAN ({exc}).")
        return value, ""
    bic = iban.bic
    code = str(bic) if bic is not None else ""
    return iban.compact, (code + "XXX" if len(code) == 8 else code)


def check_bic(value: str, where: str, problems: Problems) -> str:
    try:
        code = str(BIC(value))
    except SchwiftyException as exc:
        problems.add(where, f"{value!r} is not a valid BIC ({exc}).")
        return value
    return code + "XXX" if len(code) == 8 else code


def check_amount(value, currency: str, where: str, problems: Problems):
    try:
        money = Money.of(value, currency, field=where)
    except ValidationFailed as exc:
        problems.add(where, exc.message.split(": ", 1)[-1])
        return None
    if money.amount <= 0:
        problems.add(where, f"{value} must be greater than zero.")
        return None
    return money.amount


def sepa_text(value: str) -> tuple[str, bool]:
    """Transliterate to the SEPA character set. Returns the text and whether anything was changed."""
    out = []
    for char in value:
        if char in SEPA_ALLOWED:
            out.append(char)
            continue
        if char in SEPA_REPLACEMENTS:
            out.append(SEPA_REPLACEMENTS[char])
            continue
        decomposed = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append("".join(c for c in decomposed if c in SEPA_ALLOWED) or ".")
    text = "".join(out)
    return text, text != value
