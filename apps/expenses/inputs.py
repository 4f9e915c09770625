"""The shape of an expense report as platforms deliver it (``finops.expense_report.v1``): one contract for the
API, webhooks, pulled documents and CSV uploads."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.core.errors import ValidationFailed
from apps.core.money import Money

SCHEMA = "finops.expense_report.v1"


def _money(value: str, currency: str, where: str) -> Decimal:
    try:
        return Money.of(value, currency, field=where).amount
    except ValidationFailed as exc:
        raise serializers.ValidationError({where: exc.message.split(": ", 1)[-1]}) from None


class ExpenseLineInput(StrictSerializer):
    line_id = serializers.CharField(max_length=60)
    date = serializers.DateField()
    category = serializers.CharField(max_length=60)
    amount = serializers.CharField(max_length=30, help_text="Decimal string in `currency`, tax included")
    currency = serializers.RegexField(r"^[A-Z]{3}$")
    original_amount = serializers.CharField(max_length=30, required=False, allow_blank=True, allow_null=True)
    original_currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, allow_blank=True, allow_null=True)
    fx_rate = serializers.DecimalField(max_digits=20, decimal_places=10, required=False, allow_null=True)
    tax_code = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    tax_amount = serializers.CharField(max_length=30, required=False, allow_blank=True, default="0")
    cost_centre = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    project = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    merchant = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    receipt_ref = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        currency = attrs["currency"]
        attrs["amount"] = _money(attrs["amount"], currency, "amount")
        if attrs["amount"] == 0:
            raise serializers.ValidationError({"amount": "a line of zero is not an expense."})
        attrs["tax_amount"] = _money(attrs.get("tax_amount") or "0", currency, "tax_amount")
        original = attrs.get("original_amount")
        if original:
            if not attrs.get("original_currency"):
                raise serializers.ValidationError({"original_currency": "needed with original_amount."})
            attrs["original_amount"] = _money(original, attrs["original_currency"], "original_amount")
        else:
            attrs["original_amount"], attrs["original_currency"] = None, ""
        if attrs.get("fx_rate") is not None and attrs["fx_rate"] <= 0:
            raise serializers.ValidationError({"fx_rate": "must be positive."})
        attrs["original_currency"] = attrs.get("original_currency") or ""
        return attrs


class ExpenseReportInput(StrictSerializer):
    schema = serializers.ChoiceField(choices=[SCHEMA], required=False)
    platform = serializers.SlugField(max_length=40)
    report_id = serializers.CharField(max_length=100)
    entity = serializers.CharField(max_length=20)
    employee_id = serializers.CharField(max_length=60)
    employee_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    currency = serializers.RegexField(r"^[A-Z]{3}$")
    total = serializers.CharField(max_length=30)
    submitted_at = serializers.DateTimeField(required=False, allow_null=True)
    approved_at = serializers.DateTimeField(required=False, allow_null=True)
    approved_by = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    lines = ExpenseLineInput(many=True, allow_empty=False, max_length=1000)

    def validate(self, attrs):
        attrs["total"] = _money(attrs["total"], attrs["currency"], "total")
        if attrs["total"] <= 0:
            raise serializers.ValidationError({"total": "a report total must be positive."})
        seen = set()
        for n, line in enumerate(attrs["lines"]):
            if line["line_id"] in seen:
                raise serializers.ValidationError({"lines": f"lines[{n}].line_id {line['line_id']!r} appears twice."})
            seen.add(line["line_id"])
        return attrs


def report_input_parse(payload) -> dict:
    """Validated report data, or ValidationFailed naming every problem with its path (``lines[2].amount``)."""
    serializer = ExpenseReportInput(data=payload)
    if serializer.is_valid():
        return serializer.validated_data
    raise ValidationFailed("The expense report is not valid: " + "; ".join(_flatten(serializer.errors)) + ".",
                           {"errors": serializer.errors})


def _flatten(errors, prefix: str = "") -> list[str]:
    out = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix and key != "non_field_errors" else (prefix or str(key))
            out += _flatten(value, path)
    elif isinstance(errors, list):
        for n, value in enumerate(errors):
            if isinstance(value, (dict, list)) and value:
                out += _flatten(value, f"{prefix}[{n}]")
            elif value:
                out.append(f"{prefix}: {value}")
    elif errors:
        out.append(f"{prefix}: {errors}")
    return out
