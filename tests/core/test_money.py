from decimal import Decimal

import pytest

from apps.core.errors import ValidationFailed
from apps.core.money import Money, minor_units, to_decimal


def test_minor_units_follow_iso_4217():
    assert (minor_units("JPY"), minor_units("EUR"), minor_units("KWD"), minor_units("CLF")) == (0, 2, 3, 4)


def test_money_refuses_float():
    with pytest.raises(TypeError):
        Money(12.5, "EUR")
    with pytest.raises(ValidationFailed, match="float"):
        Money.of(12.5, "EUR")


def test_money_refuses_mixing_currencies():
    with pytest.raises(ValidationFailed, match="EUR with USD"):
        Money.of("1.00", "EUR") + Money.of("1.00", "USD")


def test_money_adds_exactly_and_keeps_currency_precision():
    total = Money.of("0.10", "EUR") + Money.of("0.20", "EUR")
    assert total == Money(Decimal("0.30"), "EUR")
    assert Money.of("1000", "JPY").amount == Decimal("1000")
    assert str(Money.of("1.234", "KWD")) == "1.234 KWD"


def test_money_refuses_more_decimals_than_the_currency_has():
    with pytest.raises(ValidationFailed, match="more decimals than JPY allows"):
        Money.of("10.5", "JPY")
    with pytest.raises(ValidationFailed, match="more decimals than EUR allows"):
        Money.of("10.005", "EUR")


def test_unknown_currency_is_refused():
    with pytest.raises(ValidationFailed, match="ISO 4217"):
        Money.of("1", "EUX")
    with pytest.raises(ValidationFailed, match="ISO 4217"):
        Money.of("1", "eur")


@pytest.mark.parametrize("bad", ["abc", "", "NaN", "Infinity", None, True])
def test_to_decimal_rejects_non_numbers(bad):
    with pytest.raises(ValidationFailed):
        to_decimal(bad)


def test_rounding_is_half_even_to_minor_unit():
    assert Money(Decimal("2.345"), "EUR").round().amount == Decimal("2.34")
    assert Money(Decimal("2.355"), "EUR").round().amount == Decimal("2.36")
