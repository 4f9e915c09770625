"""Money: a Decimal amount with an ISO 4217 currency. Never float; never two currencies mixed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

from apps.core.errors import ValidationFailed

# One project-wide precision for stored amounts: every ISO 4217 currency (CLF has 4 decimals) and every amount an
# ISO 20022 message may carry (ActiveOrHistoricCurrencyAndAmount: 18 digits, at most 5 of them decimals).
AMOUNT_MAX_DIGITS = 23
AMOUNT_DECIMAL_PLACES = 5


@lru_cache(maxsize=1)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return isinstance(code, str) and len(code) == 3 and code.isupper() and code in _known_currencies()


def validate_currency(code: str, *, field: str = "currency") -> str:
    if not is_currency(code):
        raise ValidationFailed(f"{field}: {code!r} is not an ISO 4217 currency code.", {"field": field})
    return code


@lru_cache(maxsize=512)
def _precision(currency: str) -> int:
    return get_currency_precision(currency)


def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit (JPY 0, EUR 2, KWD 3, CLF 4)."""
    validate_currency(currency)
    return _precision(currency)


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Parse an external number. Floats are refused: they cannot hold money exactly."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationFailed(f"{field}: {value!r} is a float; send amounts as decimal strings.", {"field": field})
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationFailed(f"{field}: {value!r} is not a decimal number.", {"field": field}) from None
    else:
        raise ValidationFailed(f"{field}: {value!r} is not a decimal number.", {"field": field})
    if not result.is_finite():
        raise ValidationFailed(f"{field}: {value!r} is not a finite number.", {"field": field})
    return result


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float) or not isinstance(self.amount, Decimal):
            raise TypeError(f"Money amount must be a Decimal, not {type(self.amount).__name__}.")
        validate_currency(self.currency)
        if not self.amount.is_finite():
            raise ValidationFailed(f"amount: {self.amount} is not a finite number.", {"field": "amount"})

    @classmethod
    def of(cls, amount: object, currency: str, *, field: str = "amount", strict: bool = True) -> Money:
        """Build from external input. ``strict`` refuses more decimals than the currency has."""
        value = to_decimal(amount, field=field)
        places = minor_units(currency)
        if strict and value != value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):
            raise ValidationFailed(
                f"{field}: {amount} has more decimals than {currency} allows ({places}).",
                {"field": field, "currency": currency, "decimals": places},
            )
        return cls(value.quantize(Decimal(1).scaleb(-places)), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0).quantize(Decimal(1).scaleb(-minor_units(currency))), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValidationFailed(
                f"cannot combine {self.currency} with {other.currency}; convert first.",
                {"currencies": [self.currency, other.currency]},
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def round(self) -> Money:
        """Round half-even to the currency's minor unit."""
        return Money(self.amount.quantize(Decimal(1).scaleb(-minor_units(self.currency)), ROUND_HALF_EVEN), self.currency)

    def __str__(self) -> str:
        return f"{self.amount:,.{minor_units(self.currency)}f} {self.currency}"
