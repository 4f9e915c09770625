import django_filters

from apps.org.models import BankAccount, Counterparty, LegalEntity


class EntityFilter(django_filters.FilterSet):
    class Meta:
        model = LegalEntity
        fields = ["code", "country", "base_currency", "active"]


class BankAccountFilter(django_filters.FilterSet):
    entity = django_filters.CharFilter(field_name="entity__code")
    bank = django_filters.CharFilter(field_name="bank__code")

    class Meta:
        model = BankAccount
        fields = ["entity", "bank", "currency", "active", "iban"]


class CounterpartyFilter(django_filters.FilterSet):
    entity = django_filters.CharFilter(field_name="entity__code")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Counterparty
        fields = ["entity", "kind", "code", "active"]
