"""The expenses pages in a real browser: a clerk finds the report blocked by a closed period, reads why, asks for
a repost with a reason; an approver approves it and sees the report posted with its ERP document number."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.expenses import services
from apps.expenses.masterdata import master_data_apply
from apps.org.models import LegalEntity
from tests.expenses.expense_builders import FIRST, LAST_MONTH, fake_erp_connection, master_data, report


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_blocked_report_is_reposted_after_a_second_persons_approval(page, login, make_user, entity_a, settings,
                                                                      tmp_path, js_errors):
    settings.MEDIA_ROOT = tmp_path / "media"
    LegalEntity.objects.filter(pk=entity_a.pk).update(erp_connection=fake_erp_connection(tmp_path))
    master_data_apply(payload=master_data("DE01"))
    blocked, _ = services.expense_report_receive(payload=report(report_id="R-LATE-1", day=LAST_MONTH), source="api")
    services.expense_reports_process(report_ids=[blocked.pk])
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    approver = make_user("approver", entities=[entity_a], username="anna")

    login(page, clerk, next="/expenses/")
    row = page.get_by_test_id("report-row").filter(has_text="R-LATE-1")
    expect(row.get_by_test_id("status")).to_have_text("Blocked (see the case)")
    page.get_by_test_id("filter-status").select_option("posted")  # HTMX filter: nothing posted yet
    expect(page.get_by_test_id("reports-empty")).to_be_visible()
    page.goto(f"/expenses/{blocked.pk}/")
    expect(page.get_by_test_id("problems")).to_contain_text(f"period {LAST_MONTH:%Y-%m} is closed")
    form = page.get_by_test_id("repost-request")
    form.get_by_label("Reason").fill("receipt arrived late")
    with page.expect_navigation():
        form.get_by_role("button").click()
    expect(page.get_by_text("Repost requested; another person must approve it.")).to_be_visible()
    expect(page.get_by_test_id("repost-decide")).to_have_count(0)  # the requester cannot decide

    page.context.clear_cookies()
    login(page, approver, next=f"/expenses/{blocked.pk}/")
    decide = page.get_by_test_id("repost-decide")
    expect(decide).to_contain_text("requested by clara")
    with page.expect_navigation():
        decide.get_by_role("button", name="Approve repost").click()
    expect(page.get_by_test_id("erp-document")).to_have_text("JE-000001")
    expect(page.get_by_test_id("report-facts")).to_contain_text(f"{FIRST:%Y-%m}")
    expect(page.get_by_test_id("timeline")).to_contain_text("repost into")
    assert js_errors == []
