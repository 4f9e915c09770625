from decimal import Decimal

from django import template

from apps.core.money import Money

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """``1234.5 EUR`` -> ``1,234.50 EUR``: the currency's own number of decimals, never a float."""
    if amount is None or not currency:
        return ""
    return str(Money(Decimal(amount), currency).round())
