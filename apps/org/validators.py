"""Bank identifier validation with schwifty; errors name the field and say what is wrong."""

from __future__ import annotations

from babel import Locale
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from apps.core.errors import ValidationFailed

_TERRITORIES = frozenset(code for code in Locale("en").territories if len(code) == 2 and code.isalpha())


def clean_iban(value: str, *, field: str = "iban") -> str:
    try:
        return IBAN(value).compact
    except SchwiftyException as exc:
        raise ValidationFailed(f"{field}: {value!r} is not a valid IBAN ({exc}).", {"field": field}) from None


def clean_bic(value: str, *, field: str = "bic") -> str:
    try:
        bic = BIC(value)
    except SchwiftyException as exc:
        raise ValidationFailed(f"{field}: {value!r} is not a valid BIC ({exc}).", {"field": field}) from None
    code = str(bic)
    return code + "XXX" if len(code) == 8 else code  # one form: 11 characters, primary office = XXX


def clean_country(value: str, *, field: str = "country") -> str:
    code = (value or "").strip().upper()
    if code not in _TERRITORIES:
        raise ValidationFailed(f"{field}: {value!r} is not an ISO 3166 country code.", {"field": field})
    return code
