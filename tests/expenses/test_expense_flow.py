"""Expense reports: intake, validation against master data, balanced journals, posting to the entity's ERP."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from apps.core.errors import PermissionDenied, ValidationFailed
from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_retry
from apps.expenses import services
from apps.expenses.masterdata import master_data_apply
from apps.expenses.models import ExpenseReport, Journal, JournalLine, JournalStatus, MasterRecord, ReportStatus
from apps.org.models import LegalEntity
from tests.conftest import EntityFactory
from tests.expenses.expense_builders import FIRST, LAST_MONTH, NEXT_MONTH, TODAY, FakeErp, fake_erp_connection, \
    master_data, report

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def de01(db, tmp_path):
    entity = EntityFactory(code="DE01", name="Acme GmbH", country="DE", base_currency="EUR")
    conn = fake_erp_connection(tmp_path)
    LegalEntity.objects.filter(pk=entity.pk).update(erp_connection=conn)
    master_data_apply(payload=master_data("DE01"))
    return LegalEntity.objects.get(pk=entity.pk)


def receive(payload, **kw):
    report_obj, created = services.expense_report_receive(payload=payload, source="api", **kw)
    report_obj.refresh_from_db()
    return report_obj, created


def test_valid_report_is_journaled_balanced_and_posted_once(de01, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r, created = receive(report())
    r.refresh_from_db()
    assert created and r.status == ReportStatus.POSTED
    journal = r.journals.get()
    assert journal.status == JournalStatus.POSTED and journal.erp_connection == "erp-fake"
    assert r.erp_document_number == journal.erp_document_number == "JE-000001"
    lines = list(journal.lines.values_list("account", "cost_centre", "debit", "credit", "tax_code"))
    assert lines == [
        ("6400", "CC100", Decimal("100.00"), Decimal("0"), "V19"),
        ("1576", "", Decimal("19.00"), Decimal("0"), "V19"),
        ("6640", "CC200", Decimal("20.00"), Decimal("0"), "V7"),
        ("1571", "", Decimal("1.40"), Decimal("0"), "V7"),
        ("1760", "", Decimal("0"), Decimal("140.40"), ""),
    ]
    assert journal.period == f"{TODAY:%Y-%m}"
    # the same report delivered again: recognised, nothing new, never posted twice
    with django_capture_on_commit_callbacks(execute=True):
        again, created = receive(report(report_id=r.external_id))
    assert not created and again.pk == r.pk
    assert ExpenseReport.objects.count() == 1 and Journal.objects.count() == 1
    services.expense_journal_post(journal_id=journal.pk)  # a task run twice
    assert FakeErp.calls == [journal.reference]


def test_retry_after_timeout_does_not_post_twice(de01, django_capture_on_commit_callbacks):
    """The first attempt landed in the ERP but our side never heard (worker died): the journal is still
    'sending'; the resume asks the adapter again, which finds the reference and returns the same document."""
    r, _ = receive(report())
    services.expense_reports_process(report_ids=[r.pk])
    journal = Journal.objects.get(report=r)
    claimed, conn = services._claim_for_posting(journal.pk)
    FakeErp(None, None).post_journal(claimed.raw_document)  # landed, answer lost
    services.expense_postings_resume(older_than=__import__("datetime").timedelta(0))
    journal.refresh_from_db()
    assert journal.status == JournalStatus.POSTED and len(FakeErp.journals) == 1


@pytest.mark.parametrize("change, field, code", [
    ({"employee_id": "E-9999"}, "employee_id", "unknown_employee"),
    ({"employee_id": "E-0050"}, "employee_id", "inactive_employee"),
    ({"total": "150.00"}, "total", "total_mismatch"),
])
def test_report_level_problems_block_with_a_case(de01, change, field, code):
    r, _ = receive(report(**change))
    services.expense_reports_process(report_ids=[r.pk])
    r.refresh_from_db()
    assert r.status == ReportStatus.BLOCKED
    assert [(p["field"], p["code"]) for p in r.problems] == [(field, code)]
    case = ExceptionCase.objects.get(kind="expense.posting_blocked")
    assert r.external_id in case.message and field in case.message
    assert not Journal.objects.exists()


@pytest.mark.parametrize("line_change, field, code", [
    ({"cost_centre": "CC-OLD"}, "cost_centre", "inactive_cost_centre"),
    ({"cost_centre": "CC999"}, "cost_centre", "unknown_cost_centre"),
    ({"tax_code": "XX"}, "tax_code", "unknown_tax_code"),
    ({"tax_amount": "15.00"}, "tax_amount", "tax_mismatch"),
    ({"category": "yacht"}, "category", "unmapped_category"),
    ({"currency": "GBP"}, "currency", "no_fx_rate"),
])
def test_line_problems_name_line_field_and_fix(de01, line_change, field, code):
    payload = report()
    payload["lines"][1].update(line_change)
    r, _ = receive(payload)
    services.expense_reports_process(report_ids=[r.pk])
    r.refresh_from_db()
    assert r.status == ReportStatus.BLOCKED
    problem = next(p for p in r.problems if p["code"] == code)
    assert problem["line"] == "2" and problem["field"] == field


def test_inactive_cost_centre_fixed_in_erp_then_retry_posts(de01, make_user, django_capture_on_commit_callbacks):
    payload = report()
    payload["lines"][0]["cost_centre"] = "CC-OLD"
    with django_capture_on_commit_callbacks(execute=True):
        r, _ = receive(payload)
    r.refresh_from_db()
    assert r.status == ReportStatus.BLOCKED
    case = ExceptionCase.objects.get(kind="expense.posting_blocked")
    assert "CC-OLD is inactive" in case.message
    clerk = make_user("ap_clerk", entities=[de01])
    failed = case_retry(case_id=case.pk, actor=clerk)  # nothing fixed yet: still blocked, the case says why
    assert failed.status == "open" and "CC-OLD" in failed.last_error
    fixed = master_data("DE01")
    fixed["cost_centres"][2]["active"] = True
    master_data_apply(payload=fixed)  # the next sync brings the fix
    assert MasterRecord.history.filter(code="CC-OLD").count() == 2
    done = case_retry(case_id=case.pk, actor=clerk)
    r.refresh_from_db()
    assert done.status == "resolved" and r.status == ReportStatus.POSTED


def test_erp_rejection_is_translated_into_an_action(de01, django_capture_on_commit_callbacks):
    FakeErp.reject = {"CC200": "inactive_cost_centre"}
    with django_capture_on_commit_callbacks(execute=True):
        r, _ = receive(report())
    r.refresh_from_db()
    assert r.status == ReportStatus.BLOCKED
    journal = r.journals.get()
    assert journal.status == JournalStatus.REJECTED and journal.erp_error["code"] == "inactive_cost_centre"
    case = ExceptionCase.objects.get(kind="expense.posting_blocked")
    assert "Fake ERP erp-fake refused cost centre CC200 for DE01" in case.message


def test_closed_period_is_reposted_into_next_open_one_after_approval(de01, make_user,
                                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r, _ = receive(report(day=LAST_MONTH))
    r.refresh_from_db()
    assert r.status == ReportStatus.BLOCKED and r.problems[0]["code"] == "period_closed"
    assert f"repost into {FIRST:%Y-%m}" in r.problems[0]["message"]
    clerk = make_user("ap_clerk", entities=[de01])
    approver = make_user("approver", entities=[de01])
    services.expense_report_repost_request(report_id=r.pk, actor=clerk, reason="late receipt")
    with pytest.raises(PermissionDenied):
        services.expense_report_repost_approve(report_id=r.pk, actor=clerk)  # no role, and maker-checker
    r = services.expense_report_repost_approve(report_id=r.pk, actor=approver)
    assert r.status == ReportStatus.POSTED and r.period == f"{FIRST:%Y-%m}" and r.posting_date == FIRST
    assert r.repost_requested_by == clerk and r.repost_approved_by == approver
    assert Journal.objects.get(report=r, status=JournalStatus.POSTED).period == f"{FIRST:%Y-%m}"
    reasons = list(r.history.values_list("history_change_reason", flat=True))
    assert any("repost into" in (reason or "") for reason in reasons)


def test_approver_who_requested_cannot_approve(de01, make_user):
    r, _ = receive(report(day=LAST_MONTH))
    services.expense_reports_process(report_ids=[r.pk])
    both = make_user("approver", entities=[de01])
    both.groups.add(__import__("django.contrib.auth.models", fromlist=["Group"]).Group.objects.get(name="ap_clerk"))
    both = type(both).objects.get(pk=both.pk)
    services.expense_report_repost_request(report_id=r.pk, actor=both, reason="late")
    with pytest.raises(PermissionDenied, match="another person"):
        services.expense_report_repost_approve(report_id=r.pk, actor=both)


def test_foreign_currency_lines_convert_with_rounding_to_configured_account(de01):
    payload = report(currency="EUR", lines=[
        {"line_id": "1", "date": str(TODAY), "category": "meals", "amount": "10.01", "currency": "USD",
         "tax_code": "V0", "cost_centre": "CC100"},
        {"line_id": "2", "date": str(TODAY), "category": "meals", "amount": "10.01", "currency": "USD",
         "tax_code": "V0", "cost_centre": "CC100"},
    ], total="18.45")
    r, _ = receive(payload)
    services.expense_reports_process(report_ids=[r.pk])
    r.refresh_from_db()
    assert r.status == ReportStatus.READY, r.problems
    lines = list(r.journals.get().lines.values_list("account", "debit", "credit"))
    # 10.01 USD / 1.085 = 9.2258 -> 9.23 each; payable 18.45; rounding -0.01 credited
    assert lines == [("6640", Decimal("9.23"), Decimal("0")), ("6640", Decimal("9.23"), Decimal("0")),
                     ("6960", Decimal("0"), Decimal("0.01")), ("1760", Decimal("0"), Decimal("18.45"))]


def test_bad_payloads_are_refused_with_the_path(de01):
    with pytest.raises(ValidationFailed, match=r"total: a report total must be positive"):
        receive(report(total="0"))
    bad = report()
    bad["lines"][1]["amount"] = "1.234"
    with pytest.raises(ValidationFailed, match=r"lines\[1\]\.amount"):
        receive(bad)
    with pytest.raises(ValidationFailed, match="entity"):
        receive(report(entity="XX99"))
    assert not ExpenseReport.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the deferred trigger exists on PostgreSQL only")
def test_database_refuses_an_unbalanced_journal(de01):
    r, _ = receive(report())
    with pytest.raises(IntegrityError, match="not balanced"):
        with transaction.atomic():
            journal = Journal.objects.create(reference="X-1", report=r, entity=de01, posting_date=TODAY,
                                             period="2026-11", currency="EUR")
            JournalLine.objects.create(journal=journal, position=0, account="6400", debit=Decimal("10"),
                                       currency="EUR")
            JournalLine.objects.create(journal=journal, position=1, account="1760", credit=Decimal("9.99"),
                                       currency="EUR")
            connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not Journal.objects.filter(reference="X-1").exists()


def test_service_refuses_an_unbalanced_journal_on_any_database(de01):
    r, _ = receive(report())
    services.expense_reports_process(report_ids=[r.pk])
    journal = r.journals.get()
    line = journal.lines.first()
    with pytest.raises(ValidationFailed, match="not balanced"):
        with transaction.atomic():
            JournalLine.objects.filter(pk=line.pk).update(debit=line.debit + 1)
            services._check_balanced(journal)
            raise AssertionError("unreachable")


@pytest.mark.django_db(transaction=True)
def test_the_same_report_delivered_concurrently_is_stored_once(tmp_path, settings):
    import threading

    from django.db import connections

    settings.MEDIA_ROOT = tmp_path / "media"
    EntityFactory(code="DE01", name="Acme GmbH", country="DE", base_currency="EUR")
    payload = report(report_id="R-RACE-1")
    barrier, outcomes = threading.Barrier(4), []

    def deliver():
        try:
            barrier.wait()
            _r, created = services.expense_report_receive(payload=payload, source="webhook")
            outcomes.append(created)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False, False, False, True]
    assert ExpenseReport.objects.filter(external_id="R-RACE-1").count() == 1
    r = ExpenseReport.objects.get(external_id="R-RACE-1")
    assert r.lines.count() == 2
    assert services.expense_reports_process(report_ids=[r.pk]) == {"ready": 0, "blocked": 1}  # no master data
    assert services.expense_reports_process(report_ids=[r.pk])["blocked"] == 1  # again: same case, one more note
    assert ExceptionCase.objects.filter(kind="expense.posting_blocked").count() == 1


def test_moving_an_entity_to_another_erp_applies_to_postings_from_then_on(de01, tmp_path,
                                                                          django_capture_on_commit_callbacks):
    from apps.connectors.services import connection_upsert
    from apps.core.config import config_load

    with django_capture_on_commit_callbacks(execute=True):
        before, _ = receive(report())
    new_erp = connection_upsert(code="erp-new", name="New ERP", partner_kind="erp", partner_ref="fake",
                                transport="directory", endpoint=str(tmp_path), options={"adapter": "fake_erp_expenses"},
                                reason="test").obj
    config_load({"entities": [{"code": "DE01", "name": "Acme GmbH", "country": "DE", "base_currency": "EUR",
                               "erp_connection": "erp-new"}]})
    with django_capture_on_commit_callbacks(execute=True):
        after, _ = receive(report())
    before.refresh_from_db()
    after.refresh_from_db()
    assert before.journals.get().erp_connection == "erp-fake" and after.journals.get().erp_connection == new_erp.code
    history = list(LegalEntity.history.filter(code="DE01").order_by("history_date")
                   .values_list("erp_connection_id", flat=True))
    assert history[-1] == new_erp.pk and history[-2] != new_erp.pk  # the change is in the entity's history


def test_admin_triggers_a_master_data_sync_from_the_console(client, de01, make_user):
    from apps.connectors.models import SyncRun

    client.force_login(make_user("admin", all_entities=True))
    page = client.get("/expenses/master-data/").content.decode()
    assert "Sync now" in page and "never" not in page  # synced by the fixture
    response = client.post("/expenses/master-data/DE01/sync/")
    assert response.status_code == 302
    run = SyncRun.objects.get(operation="pull_master_data")
    assert run.connection.code == "erp-fake"
    clerk = make_user("ap_clerk", entities=[de01])
    client.force_login(clerk)
    assert client.post("/expenses/master-data/DE01/sync/").status_code == 403
