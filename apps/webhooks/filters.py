"""FilterSets shared by the console pages and the API."""

import django_filters

from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


class SubscriptionFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter()

    class Meta:
        model = WebhookSubscription
        fields = ["active"]


class DeliveryFilter(django_filters.FilterSet):
    subscription = django_filters.NumberFilter(field_name="subscription_id")
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.CharFilter(method="filter_event_type", help_text='Exact type, or a prefix: "case.*"')
    event_id = django_filters.UUIDFilter()

    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "status", "event_type", "event_id"]

    def filter_event_type(self, queryset, name, value):
        value = value.strip()
        if value.endswith("*"):
            return queryset.filter(event_type__startswith=value[:-1])
        return queryset.filter(event_type=value) if value else queryset
