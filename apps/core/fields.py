"""Model fields shared by every app: one precision for amounts, one shape for currencies."""

from django.core.exceptions import ValidationError
from django.db import models

from apps.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS, is_currency


def validate_currency_code(value: str) -> None:
    if not is_currency(value):
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code.", code="invalid_currency")


class AmountField(models.DecimalField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", AMOUNT_MAX_DIGITS)
        kwargs.setdefault("decimal_places", AMOUNT_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


class CurrencyField(models.CharField):
    default_validators = [validate_currency_code]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        return name, path, args, kwargs
