"""One FilterSet for the exception queue, shared by the console page and the API."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from apps.exceptions.models import ACTIVE_STATUSES, CaseStatus, ExceptionCase, Severity
from apps.exceptions.registry import kinds
from apps.org.models import LegalEntity


def _kind_choices():
    return [(k.code, k.title) for k in kinds()]


class CaseFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=[])
    status = django_filters.MultipleChoiceFilter(choices=CaseStatus.choices)
    active = django_filters.BooleanFilter(method="filter_active", label="Active (open, in progress, waiting)")
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    entity = django_filters.ModelChoiceFilter(
        field_name="legal_entity", queryset=LegalEntity.objects.all(), to_field_name="code", label="Entity"
    )
    assignee = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.filter(is_active=True), to_field_name="username"
    )
    unassigned = django_filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    overdue = django_filters.BooleanFilter(method="filter_overdue")
    q = django_filters.CharFilter(method="filter_text", label="Text")
    ordering = django_filters.OrderingFilter(
        fields=(("due_at", "due"), ("created_at", "created"), ("severity", "severity"), ("amount", "amount"),
                ("occurrences", "occurrences"), ("last_occurred_at", "last_occurred")),
    )

    class Meta:
        model = ExceptionCase
        fields = ["kind", "status", "severity", "entity", "assignee"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        # Kinds are registered by apps at start-up; a form field built earlier (e.g. by the schema generator)
        # would carry stale choices, so drop any cached field and build it with today's registry.
        self.filters["kind"].extra["choices"] = _kind_choices()
        self.filters["kind"].__dict__.pop("_field", None)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            from apps.org.selectors import entity_list

            self.filters["entity"].queryset = entity_list(user=user)

    def filter_active(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(status__in=ACTIVE_STATUSES) if value else queryset.exclude(status__in=ACTIVE_STATUSES)

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        overdue = Q(status__in=ACTIVE_STATUSES, due_at__lt=timezone.now())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        text = Q(message__icontains=value) | Q(subject_label__icontains=value) | Q(reason_code__iexact=value)
        if value.isdigit():
            text |= Q(pk=int(value))
        return queryset.filter(text)
