"""Writes for the exception queue. One function per transition, each in a transaction, recorded in history and
emitted as an event. Actors are checked here (role permission and entity access) so every caller is covered."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import audited_save
from apps.core.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from apps.core.events import event_emit
from apps.core.models import RawDocument
from apps.exceptions.models import (
    ACTIVE_STATUSES,
    CASE_TRANSITIONS,
    CaseOccurrence,
    CaseStatus,
    ExceptionCase,
    Severity,
    SlaRule,
)
from apps.exceptions.registry import get_kind
from apps.org.models import LegalEntity
from apps.org.selectors import can_access_entity

logger = logging.getLogger(__name__)

WORK_PERMISSION = "exceptions.work_exceptioncase"


def _payload(case: ExceptionCase, **extra) -> dict:
    return {
        "case_id": case.pk,
        "kind": case.kind,
        "status": case.status,
        "severity": case.severity,
        "entity": case.legal_entity.code if case.legal_entity_id else None,
        "subject": {"type": case.subject_type.model, "id": case.subject_id, "label": case.subject_label},
        "reason_code": case.reason_code,
        **extra,
    }


def sla_due(*, kind: str, amount: Decimal | None, currency: str, opened_at) -> timedelta:
    """The deadline for a case: the matching SLA rule with the highest amount threshold, else the kind's default."""
    rules = SlaRule.objects.filter(Q(kind=kind) | Q(kind="")).filter(Q(currency=currency) | Q(currency=""))
    rules = rules.filter(min_amount__lte=amount if amount is not None else Decimal(0))
    rule = rules.order_by("-min_amount", models.F("kind").desc(), models.F("currency").desc()).first()
    if rule is not None:
        return timedelta(hours=rule.hours)
    registered = get_kind(kind)
    return timedelta(hours=registered.sla_hours if registered else 48)


def _lock(case_id: int, actor) -> ExceptionCase:
    case = ExceptionCase.objects.select_for_update().select_related("subject_type").filter(pk=case_id).first()
    if case is None or (actor is not None and not can_access_entity(user=actor, entity_id=case.legal_entity_id)):
        raise NotFound(f"Case {case_id} does not exist.")
    return case


def _ensure_can_work(actor, case: ExceptionCase) -> None:
    if actor is None:
        return
    if not actor.has_perm(WORK_PERMISSION):
        raise PermissionDenied("Your role may read cases but not act on them.")


@transaction.atomic
def case_open(
    *,
    kind: str,
    subject: models.Model,
    message: str,
    reason_code: str = "",
    legal_entity: LegalEntity | None = None,
    severity: str | None = None,
    suggested_actions: list[str] | None = None,
    amount: Decimal | None = None,
    currency: str = "",
    raw_document: RawDocument | None = None,
    actor=None,
) -> tuple[ExceptionCase, bool]:
    """Open a case for ``subject``, or, if one of this kind is already active for it, add an occurrence.

    Returns ``(case, created)``. Safe under concurrency: a partial unique index allows one active case per
    subject and kind; the loser of a race records an occurrence on the winner's case.
    """
    registered = get_kind(kind)
    if registered is None:
        raise ValidationFailed(f"kind: {kind!r} is not a registered case kind.", {"field": "kind"})
    if not message.strip():
        raise ValidationFailed("message: a case needs a message a person can act on.", {"field": "message"})
    if amount is not None and not currency:
        raise ValidationFailed("currency: an amount needs its currency.", {"field": "currency"})
    subject_type = ContentType.objects.get_for_model(subject)
    lookup = {"kind": kind, "subject_type": subject_type, "subject_id": str(subject.pk), "status__in": ACTIVE_STATUSES}
    for _attempt in range(2):
        existing = ExceptionCase.objects.select_for_update().filter(**lookup).first()
        if existing is not None:
            return _add_occurrence(existing, message=message, reason_code=reason_code, raw_document=raw_document,
                                   actor=actor), False
        now = timezone.now()
        case = ExceptionCase(
            kind=kind,
            severity=severity or registered.severity,
            subject_type=subject_type,
            subject_id=str(subject.pk),
            subject_label=str(subject)[:255],
            legal_entity=legal_entity,
            reason_code=reason_code,
            message=message,
            suggested_actions=list(suggested_actions if suggested_actions is not None else registered.suggested_actions),
            amount=amount,
            currency=currency,
            raw_document=raw_document,
            last_occurred_at=now,
            due_at=now + sla_due(kind=kind, amount=amount, currency=currency, opened_at=now),
        )
        try:
            with transaction.atomic():
                audited_save(case, actor=actor, reason=f"opened: {reason_code or kind}")
        except IntegrityError:
            continue  # another transaction opened it first: record an occurrence on theirs
        event_emit("case.opened", case, _payload(case, message=message), actor=actor)
        return case, True
    raise ApplicationError("Could not open or find the case; try again.")


def _add_occurrence(case: ExceptionCase, *, message: str, reason_code: str, raw_document, actor) -> ExceptionCase:
    now = timezone.now()
    CaseOccurrence.objects.create(
        case=case, occurred_at=now, reason_code=reason_code, message=message, raw_document=raw_document
    )
    case.occurrences += 1
    case.last_occurred_at = now
    case.last_error = message
    audited_save(
        case, actor=actor, reason=f"occurred again: {reason_code or case.kind}",
        update_fields=["occurrences", "last_occurred_at", "last_error"],
    )
    event_emit("case.occurred_again", case, _payload(case, occurrences=case.occurrences), actor=actor)
    return case


@transaction.atomic
def case_assign(*, case_id: int, assignee, actor, reason: str = "") -> ExceptionCase:
    case = _lock(case_id, actor)
    _ensure_can_work(actor, case)
    if not case.is_active:
        raise ValidationFailed(f"Case {case.pk} is {case.status}; only active cases can be assigned.")
    if assignee is not None:
        if not (assignee.is_active and assignee.has_perm(WORK_PERMISSION)):
            raise ValidationFailed(f"{assignee} cannot work cases.", {"field": "assignee"})
        if not can_access_entity(user=assignee, entity_id=case.legal_entity_id):
            raise ValidationFailed(f"{assignee} has no access to this case's entity.", {"field": "assignee"})
    case.assignee = assignee
    audited_save(case, actor=actor, reason=reason or (f"assigned to {assignee}" if assignee else "unassigned"),
                 update_fields=["assignee"])
    event_emit("case.assigned", case, _payload(case, assignee=getattr(assignee, "username", None)), actor=actor)
    return case


@transaction.atomic
def case_start(*, case_id: int, actor, reason: str = "") -> ExceptionCase:
    case = _lock(case_id, actor)
    _ensure_can_work(actor, case)
    also = []
    if case.assignee_id is None and actor is not None:
        case.assignee = actor
        also.append("assignee")
    CASE_TRANSITIONS.move(case, to=CaseStatus.IN_PROGRESS, actor=actor, reason=reason or "work started", also=also)
    event_emit("case.started", case, _payload(case), actor=actor)
    return case


def _close(case: ExceptionCase, *, to: str, actor, reason: str, resolution: str) -> ExceptionCase:
    case.resolution = resolution
    case.resolution_note = reason
    case.closed_at = timezone.now()
    case.closed_by = actor if getattr(actor, "pk", None) else None
    CASE_TRANSITIONS.move(
        case, to=to, actor=actor, reason=reason, also=["resolution", "resolution_note", "closed_at", "closed_by"]
    )
    event_emit(f"case.{to}", case, _payload(case, resolution=resolution, note=reason), actor=actor)
    return case


@transaction.atomic
def case_resolve(*, case_id: int, actor, reason: str, resolution: str = "fixed") -> ExceptionCase:
    case = _lock(case_id, actor)
    _ensure_can_work(actor, case)
    return _close(case, to=CaseStatus.RESOLVED, actor=actor, reason=reason, resolution=resolution)


@transaction.atomic
def case_dismiss(*, case_id: int, actor, reason: str) -> ExceptionCase:
    case = _lock(case_id, actor)
    _ensure_can_work(actor, case)
    return _close(case, to=CaseStatus.DISMISSED, actor=actor, reason=reason, resolution="dismissed")


def case_retry(*, case_id: int, actor) -> ExceptionCase:
    """Run the retry handler registered for the case's kind and record the outcome.

    The case is marked ``waiting_retry`` and committed first; the handler then runs outside any lock (it may
    call a bank or an ERP); its outcome is recorded in a second transaction: success resolves the case, a
    failure puts it back in the queue with the new error.
    """
    with transaction.atomic():
        case = _lock(case_id, actor)
        _ensure_can_work(actor, case)
        kind = get_kind(case.kind)
        if kind is None or kind.retry is None:
            raise ValidationFailed(f"Cases of kind {case.kind} cannot be retried; fix the cause and resolve it.")
        previous = case.status
        case.retry_count += 1
        case.last_retry_at = timezone.now()
        CASE_TRANSITIONS.move(
            case, to=CaseStatus.WAITING_RETRY, actor=actor, reason="retry requested", also=["retry_count", "last_retry_at"]
        )
    error = ""
    outcome = ""
    try:
        outcome = kind.retry(case) or "retry succeeded"
    except ApplicationError as exc:
        error = exc.message
    except Exception as exc:  # noqa: BLE001 - a handler's crash must land on the case, not vanish
        logger.exception("retry handler for case %s (%s) failed", case.pk, case.kind)
        error = f"Retry failed unexpectedly ({type(exc).__name__}); the error was logged."
    with transaction.atomic():
        case = _lock(case_id, None)
        if case.status != CaseStatus.WAITING_RETRY:
            return case  # someone closed it meanwhile; their decision stands
        if not error:
            return _close(case, to=CaseStatus.RESOLVED, actor=actor, reason=f"Retry succeeded: {outcome}"[:2000],
                          resolution="retried")
        case.last_error = error
        CaseOccurrence.objects.create(case=case, reason_code="retry_failed", message=error)
        back = CaseStatus.IN_PROGRESS if previous == CaseStatus.IN_PROGRESS else CaseStatus.OPEN
        CASE_TRANSITIONS.move(case, to=back, actor=actor, reason=f"retry failed: {error}"[:100], also=["last_error"])
        event_emit("case.retry_failed", case, _payload(case, error=error), actor=actor)
        return case


@transaction.atomic
def case_sla_check() -> int:
    """Report each active case whose deadline passed, once: raise its severity one step and emit case.overdue."""
    now = timezone.now()
    overdue = ExceptionCase.objects.select_for_update(skip_locked=True).filter(
        status__in=ACTIVE_STATUSES, due_at__lt=now, escalated_at__isnull=True
    )
    order = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
    count = 0
    for case in overdue[:1000]:
        case.escalated_at = now
        case.severity = order[min(order.index(case.severity) + 1, len(order) - 1)]
        audited_save(case, actor=None, reason="SLA breached", update_fields=["escalated_at", "severity"])
        event_emit("case.overdue", case, _payload(case, due_at=case.due_at), actor=None)
        count += 1
    return count
