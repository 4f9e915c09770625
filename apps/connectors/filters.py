"""FilterSets shared by the console pages and the API."""

import django_filters

from apps.connectors.models import Connection, SyncRun


class SyncRunFilter(django_filters.FilterSet):
    connection = django_filters.ModelChoiceFilter(queryset=Connection.objects.all(), to_field_name="code")
    connection_id = django_filters.NumberFilter(field_name="connection_id")
    status = django_filters.MultipleChoiceFilter(choices=SyncRun.Status.choices)
    operation = django_filters.CharFilter(field_name="operation")
    via_fallback = django_filters.BooleanFilter()

    class Meta:
        model = SyncRun
        fields = ["connection", "connection_id", "status", "operation", "via_fallback"]


class ConnectionFilter(django_filters.FilterSet):
    partner_kind = django_filters.ChoiceFilter(choices=Connection._meta.get_field("partner_kind").choices)
    transport = django_filters.ChoiceFilter(choices=Connection._meta.get_field("transport").choices)
    circuit_state = django_filters.ChoiceFilter(choices=Connection._meta.get_field("circuit_state").choices)
    active = django_filters.BooleanFilter()

    class Meta:
        model = Connection
        fields = ["partner_kind", "transport", "circuit_state", "active"]
