import django_filters

from apps.payments.models import BatchStatus, PaymentBatch


class BatchFilter(django_filters.FilterSet):
    entity = django_filters.CharFilter(field_name="entity__code")
    status = django_filters.MultipleChoiceFilter(choices=BatchStatus.choices)
    date_from = django_filters.DateFilter(field_name="requested_execution_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="requested_execution_date", lookup_expr="lte")
    min_amount = django_filters.NumberFilter(field_name="total_amount", lookup_expr="gte")
    max_amount = django_filters.NumberFilter(field_name="total_amount", lookup_expr="lte")
    flagged = django_filters.BooleanFilter(method="filter_flagged")
    erp_reference = django_filters.CharFilter()

    class Meta:
        model = PaymentBatch
        fields = ["entity", "status", "erp_reference"]

    def filter_flagged(self, queryset, name, value):
        if value is None:
            return queryset
        held = queryset.filter(instructions__flags__holds=True, instructions__flags__cleared_at__isnull=True)
        return held.distinct() if value else queryset.exclude(pk__in=held.values("pk"))
