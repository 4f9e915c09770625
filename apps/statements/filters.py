"""FilterSets shared by the statement pages and the API."""

import django_filters

from apps.statements.models import CashPosition, EntryStatus, ImportRun, Statement, StatementEntry, StatementKind


class StatementFilter(django_filters.FilterSet):
    account = django_filters.NumberFilter(field_name="bank_account_id")
    iban = django_filters.CharFilter(field_name="bank_account__iban")
    entity = django_filters.CharFilter(field_name="bank_account__entity__code")
    kind = django_filters.ChoiceFilter(choices=StatementKind.choices)
    format = django_filters.CharFilter(field_name="format", lookup_expr="istartswith")
    date_from = django_filters.DateFilter(field_name="statement_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="statement_date", lookup_expr="lte")
    reconciles = django_filters.BooleanFilter(field_name="balances_reconcile")
    import_run = django_filters.NumberFilter(field_name="import_run_id")

    class Meta:
        model = Statement
        fields = ["account", "iban", "entity", "kind", "format", "reconciles", "import_run"]


class EntryFilter(django_filters.FilterSet):
    statement = django_filters.NumberFilter(field_name="statement_id")
    account = django_filters.NumberFilter(field_name="bank_account_id")
    status = django_filters.ChoiceFilter(choices=EntryStatus.choices)
    direction = django_filters.ChoiceFilter(choices=[("credit", "Credit"), ("debit", "Debit")])
    date_from = django_filters.DateFilter(field_name="booking_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="booking_date", lookup_expr="lte")
    min_amount = django_filters.NumberFilter(field_name="amount", lookup_expr="gte")
    max_amount = django_filters.NumberFilter(field_name="amount", lookup_expr="lte")
    is_return = django_filters.BooleanFilter()
    end_to_end_id = django_filters.CharFilter()
    q = django_filters.CharFilter(method="filter_text", label="Text")

    class Meta:
        model = StatementEntry
        fields = ["statement", "account", "status", "direction", "is_return", "end_to_end_id"]

    def filter_text(self, queryset, name, value):
        from django.db.models import Q

        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(counterparty_name__icontains=value) | Q(remittance_text__icontains=value)
            | Q(end_to_end_id__iexact=value) | Q(servicer_reference__iexact=value)
            | Q(structured_reference__iexact=value) | Q(counterparty_account__iexact=value)
        )


class ImportRunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ImportRun.Status.choices)
    source = django_filters.CharFilter()
    format = django_filters.CharFilter(lookup_expr="istartswith")

    class Meta:
        model = ImportRun
        fields = ["status", "source", "format"]


class CashPositionFilter(django_filters.FilterSet):
    account = django_filters.NumberFilter(field_name="bank_account_id")
    entity = django_filters.CharFilter(field_name="bank_account__entity__code")
    currency = django_filters.CharFilter()
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = CashPosition
        fields = ["account", "entity", "currency"]
