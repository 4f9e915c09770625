"""Reads for the exception queue, filtered by what the user may see."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from apps.exceptions.models import ACTIVE_STATUSES, ExceptionCase
from apps.org.selectors import entity_ids


def case_list(*, user) -> QuerySet[ExceptionCase]:
    """Cases of the entities the user may see, plus cases that belong to no entity (e.g. a bank outage)."""
    if not (user and user.is_authenticated and user.is_active and user.has_perm("exceptions.view_exceptioncase")):
        return ExceptionCase.objects.none()
    qs = ExceptionCase.objects.select_related("legal_entity", "assignee", "subject_type", "raw_document")
    ids = entity_ids(user=user)
    if ids is not None:
        qs = qs.filter(Q(legal_entity__in=ids) | Q(legal_entity__isnull=True))
    return qs


def case_for_subject(*, subject, kind: str) -> ExceptionCase | None:
    """The active case of ``kind`` about ``subject``, for the app that owns the subject (no user filter)."""
    from django.contrib.contenttypes.models import ContentType

    return ExceptionCase.objects.filter(
        kind=kind, subject_type=ContentType.objects.get_for_model(subject), subject_id=str(subject.pk),
        status__in=ACTIVE_STATUSES,
    ).first()


def case_get(*, user, pk: int) -> ExceptionCase:
    return case_list(user=user).get(pk=pk)


def case_counts(*, user) -> dict:
    """Live counts for the home page: active cases per kind, and how many are overdue or unassigned."""
    from django.utils import timezone

    active = case_list(user=user).filter(status__in=ACTIVE_STATUSES)
    per_kind = {row["kind"]: row["n"] for row in active.values("kind").annotate(n=Count("pk")).order_by("kind")}
    totals = active.aggregate(
        total=Count("pk"),
        overdue=Count("pk", filter=Q(due_at__lt=timezone.now())),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        mine=Count("pk", filter=Q(assignee=user)),
    )
    return {"per_kind": per_kind, **totals}


def case_timeline(*, case: ExceptionCase) -> list[dict]:
    """The case's history, newest first: who, when, what changed and why."""
    entries = []
    records = list(case.history.select_related("history_user").order_by("-history_date", "-history_id"))
    for record in records:
        changes = []
        prev = record.prev_record
        if prev is not None:
            delta = record.diff_against(prev, excluded_fields=["updated_at", "last_occurred_at"])
            changes = [(c.field, c.old, c.new) for c in delta.changes]
        entries.append(
            {
                "when": record.history_date,
                "who": record.history_user.username if record.history_user else "system",
                "type": {"+": "created", "~": "changed", "-": "deleted"}[record.history_type],
                "reason": record.history_change_reason or "",
                "status": record.status,
                "changes": changes,
            }
        )
    return entries
