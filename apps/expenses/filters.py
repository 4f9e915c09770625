import django_filters

from apps.expenses.models import ExpenseReport, ReportStatus


class ReportFilter(django_filters.FilterSet):
    entity = django_filters.CharFilter(field_name="entity__code")
    status = django_filters.MultipleChoiceFilter(choices=ReportStatus.choices)
    platform = django_filters.CharFilter()
    employee_id = django_filters.CharFilter()
    external_id = django_filters.CharFilter()
    date_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    date_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = ExpenseReport
        fields = ["entity", "status", "platform", "employee_id", "external_id"]
