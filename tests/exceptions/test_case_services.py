from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.errors import NotFound, PermissionDenied, RetryFailed, TransitionNotAllowed, ValidationFailed
from apps.core.models import Event
from apps.exceptions import registry, services
from apps.exceptions.models import CaseOccurrence, CaseStatus, ExceptionCase, SlaRule


@pytest.fixture
def clerk(make_user, entity_a):
    return make_user("ap_clerk", entities=[entity_a], username="clara")


@pytest.fixture
def case(open_case, account_a, entity_a):
    return open_case(account_a, entity=entity_a, amount="250.00", currency="EUR")


@pytest.fixture
def retry_kind():
    outcomes = []

    def handler(case):
        result = outcomes.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    registry.register_kind(registry.CaseKind("test.retryable", "Retryable test case", retry=handler, sla_hours=4))
    yield outcomes
    registry._kinds.pop("test.retryable", None)


def test_case_open_twice_adds_an_occurrence_not_a_duplicate(open_case, account_a, entity_a):
    first = open_case(account_a, entity=entity_a, message="off by 250.00")
    second = open_case(account_a, entity=entity_a, message="still off by 250.00")
    assert first.pk == second.pk
    assert ExceptionCase.objects.count() == 1
    case = ExceptionCase.objects.get()
    assert case.occurrences == 2 and case.last_error == "still off by 250.00"
    assert list(CaseOccurrence.objects.values_list("message", flat=True)) == ["still off by 250.00"]
    assert Event.objects.filter(type="case.opened").count() == 1
    assert Event.objects.filter(type="case.occurred_again").count() == 1


def test_another_kind_or_a_closed_case_gives_a_new_case(open_case, account_a, entity_a, clerk):
    first = open_case(account_a, entity=entity_a)
    other_kind = open_case(account_a, entity=entity_a, kind="statement.gap")
    assert other_kind.pk != first.pk
    services.case_resolve(case_id=first.pk, actor=clerk, reason="bank corrected the file")
    again = open_case(account_a, entity=entity_a)
    assert again.pk != first.pk and again.status == CaseStatus.OPEN


def test_unknown_kind_and_empty_message_are_refused(account_a):
    with pytest.raises(ValidationFailed, match="not a registered case kind"):
        services.case_open(kind="made.up", subject=account_a, message="x")
    with pytest.raises(ValidationFailed, match="message"):
        services.case_open(kind="statement.gap", subject=account_a, message="  ")
    assert not ExceptionCase.objects.exists()


def test_full_lifecycle_is_recorded_in_history_with_user_and_reason(case, clerk):
    services.case_assign(case_id=case.pk, assignee=clerk, actor=clerk, reason="mine")
    services.case_start(case_id=case.pk, actor=clerk, reason="looking at the bank file")
    services.case_resolve(case_id=case.pk, actor=clerk, reason="bank sent a corrected statement")
    case.refresh_from_db()
    assert case.status == CaseStatus.RESOLVED
    assert case.resolution == "fixed" and case.resolution_note == "bank sent a corrected statement"
    assert case.closed_by == clerk and case.closed_at is not None
    records = list(case.history.order_by("history_date", "history_id"))
    assert [(r.status, r.history_change_reason) for r in records] == [
        ("open", "opened: statement.unbalanced"),
        ("open", "mine"),
        ("in_progress", "looking at the bank file"),
        ("resolved", "bank sent a corrected statement"),
    ]
    assert [r.history_user for r in records[1:]] == [clerk, clerk, clerk]
    assert [e.type for e in Event.objects.filter(aggregate_id=str(case.pk)).order_by("created_at")] == [
        "case.opened", "case.assigned", "case.started", "case.resolved"]


@pytest.mark.parametrize("service", [services.case_resolve, services.case_dismiss])
def test_closing_without_a_reason_is_refused_and_changes_nothing(case, clerk, service):
    with pytest.raises(ValidationFailed, match="reason is required"):
        service(case_id=case.pk, actor=clerk, reason="  ")
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN and case.history.count() == 1


def test_closed_case_cannot_move_again(case, clerk):
    services.case_dismiss(case_id=case.pk, actor=clerk, reason="duplicate of #1")
    with pytest.raises(TransitionNotAllowed):
        services.case_start(case_id=case.pk, actor=clerk)
    with pytest.raises(TransitionNotAllowed):
        services.case_resolve(case_id=case.pk, actor=clerk, reason="x")


@pytest.mark.parametrize(
    "role, allowed",
    [("ap_clerk", True), ("treasury", True), ("approver", False), ("auditor", False), ("admin", False)],
)
def test_role_x_action(case, make_user, entity_a, role, allowed):
    user = make_user(role, entities=[entity_a])
    actions = [
        lambda: services.case_assign(case_id=case.pk, assignee=user if allowed else None, actor=user),
        lambda: services.case_start(case_id=case.pk, actor=user),
        lambda: services.case_resolve(case_id=case.pk, actor=user, reason="done"),
    ]
    if allowed:
        for action in actions:
            action()
        case.refresh_from_db()
        assert case.status == CaseStatus.RESOLVED
    else:
        for action in actions + [lambda: services.case_dismiss(case_id=case.pk, actor=user, reason="no")]:
            with pytest.raises(PermissionDenied):
                action()
        case.refresh_from_db()
        assert case.status == CaseStatus.OPEN and case.assignee is None and case.history.count() == 1


def test_user_without_entity_access_gets_not_found_and_nothing_changes(case, make_user, entity_b):
    outsider = make_user("ap_clerk", entities=[entity_b])
    with pytest.raises(NotFound):
        services.case_resolve(case_id=case.pk, actor=outsider, reason="not mine")
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN


def test_assignee_must_be_able_to_work_the_case(case, clerk, make_user, entity_a, entity_b):
    auditor = make_user("auditor", all_entities=True)
    other_entity_clerk = make_user("ap_clerk", entities=[entity_b])
    with pytest.raises(ValidationFailed, match="cannot work cases"):
        services.case_assign(case_id=case.pk, assignee=auditor, actor=clerk)
    with pytest.raises(ValidationFailed, match="no access"):
        services.case_assign(case_id=case.pk, assignee=other_entity_clerk, actor=clerk)


def test_retry_success_resolves_the_case(retry_kind, account_a, entity_a, clerk):
    retry_kind.append("statement re-imported")
    case, _ = services.case_open(kind="test.retryable", subject=account_a, legal_entity=entity_a, message="failed")
    services.case_retry(case_id=case.pk, actor=clerk)
    case.refresh_from_db()
    assert case.status == CaseStatus.RESOLVED and case.resolution == "retried"
    assert case.retry_count == 1 and "statement re-imported" in case.resolution_note
    statuses = list(case.history.order_by("history_date", "history_id").values_list("status", flat=True))
    assert statuses == ["open", "waiting_retry", "resolved"]


def test_retry_that_fails_again_keeps_the_case_open_with_the_new_error(retry_kind, account_a, entity_a, clerk):
    retry_kind.extend([RetryFailed("bank still answers 503"), KeyError("bug in handler")])
    case, _ = services.case_open(kind="test.retryable", subject=account_a, legal_entity=entity_a, message="failed")
    services.case_retry(case_id=case.pk, actor=clerk)
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN and case.last_error == "bank still answers 503"
    services.case_retry(case_id=case.pk, actor=clerk)
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN and case.retry_count == 2
    assert "unexpectedly (KeyError)" in case.last_error
    assert case.occurrence_log.filter(reason_code="retry_failed").count() == 2
    assert Event.objects.filter(type="case.retry_failed").count() == 2


def test_retry_of_a_kind_without_handler_is_refused(case, clerk):
    with pytest.raises(ValidationFailed, match="cannot be retried"):
        services.case_retry(case_id=case.pk, actor=clerk)
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN and case.retry_count == 0


def test_sla_is_shorter_for_large_amounts(open_case, entity_a, account_a, account_b):
    SlaRule.objects.create(kind="payment.rejected_by_bank", min_amount=Decimal("0"), hours=24)
    SlaRule.objects.create(kind="payment.rejected_by_bank", min_amount=Decimal("100000"), hours=2)
    before = timezone.now()
    small = open_case(account_a, kind="payment.rejected_by_bank", amount="500.00", currency="EUR")
    large = open_case(account_b, kind="payment.rejected_by_bank", amount="250000.00", currency="EUR")
    assert timedelta(hours=23) < small.due_at - before <= timedelta(hours=24, seconds=5)
    assert timedelta(hours=1) < large.due_at - before <= timedelta(hours=2, seconds=5)
    registered = open_case(entity_a, kind="connector.unavailable")
    assert registered.due_at - before <= timedelta(hours=2, seconds=5)  # the kind's own default (2 h)


def test_sla_check_reports_each_breach_once(case):
    ExceptionCase.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert services.case_sla_check() == 1
    assert services.case_sla_check() == 0
    case.refresh_from_db()
    assert case.severity == "critical" and case.escalated_at is not None  # high -> critical
    assert Event.objects.filter(type="case.overdue").count() == 1
