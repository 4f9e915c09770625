"""The exception queue in a real browser: a clerk works cases through HTMX, an auditor reads and cannot act,
entity access holds in the browser, and the login form refuses a wrong password."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from apps.core.models import Event
from apps.exceptions import services
from apps.exceptions.models import CaseStatus, ExceptionCase

REASON = "Bank confirmed the corrected statement"
NO_RELOAD = "window.__finopsNoReload"  # set before a click; a full page load would wipe it


@pytest.fixture
def clerk(make_user, entity_a):
    return make_user("ap_clerk", entities=[entity_a], username="clara")


@pytest.fixture
def auditor(make_user):
    return make_user("auditor", all_entities=True, username="audrey")


def case_row(page: Page, case: ExceptionCase):
    return page.locator(f'tr[data-testid="case-row"][data-case="{case.pk}"]')


def any_row(page: Page, case: ExceptionCase):
    return page.locator(f'tr[data-case="{case.pk}"], tr#case-{case.pk}')


def mark_page(page: Page) -> None:
    page.evaluate(f"{NO_RELOAD} = 'same document'")


def assert_same_page(page: Page) -> None:
    assert page.evaluate(f"{NO_RELOAD} ?? null") == "same document", "the page reloaded instead of swapping HTML"


def case_state(case: ExceptionCase) -> tuple:
    case = ExceptionCase.objects.get(pk=case.pk)
    return (case.status, case.assignee_id, case.resolution, case.resolution_note, case.closed_by_id,
            case.history.count(), Event.objects.count())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_clerk_filters_assigns_and_resolves_a_case_without_reloading(
    page, login, clerk, entity_a, account_a, open_case, js_errors
):
    unbalanced = open_case(account_a, entity=entity_a, amount="250.00", currency="EUR",
                           message="Closing balance differs from opening + movements by 250.00 EUR")
    gap = open_case(account_a, kind="statement.gap", entity=entity_a, message="Statement 41 missing between 40 and 42")

    login(page, clerk)
    expect(page.locator('tr[data-testid="case-row"]')).to_have_count(2)
    page.screenshot(path="/tmp/queue.png", full_page=True)

    mark_page(page)
    page.get_by_test_id("filter-kind").select_option("statement.unbalanced")
    expect(page.locator('tr[data-testid="case-row"]'),
           "filtering by kind through the form must keep the matching case").to_have_count(1)
    expect(case_row(page, unbalanced)).to_be_visible()
    assert "kind=statement.unbalanced" in page.url  # hx-push-url keeps the filter in the address
    assert_same_page(page)

    row = case_row(page, unbalanced)
    row.get_by_role("button", name="Assign to me").click()
    expect(row.get_by_test_id("assignee")).to_have_text("clara")
    assert_same_page(page)

    row.get_by_test_id("reason").fill(REASON)
    row.get_by_role("button", name="Resolve").click()
    closed = page.locator(f'tr#case-{unbalanced.pk}[data-testid="case-closed"]')
    expect(closed).to_contain_text(f"resolved: {REASON}")
    expect(closed).to_contain_text("It has left the open list.")
    expect(case_row(page, unbalanced)).to_have_count(0)
    assert_same_page(page)

    page.goto("/cases/")
    expect(case_row(page, gap)).to_be_visible()
    expect(any_row(page, unbalanced)).to_have_count(0)
    assert js_errors == []

    unbalanced.refresh_from_db()
    assert unbalanced.status == CaseStatus.RESOLVED
    assert unbalanced.resolution == "fixed"
    assert unbalanced.resolution_note == REASON
    assert unbalanced.assignee_id == clerk.pk and unbalanced.closed_by_id == clerk.pk
    by_clerk = list(unbalanced.history.filter(history_user=clerk).order_by("history_date", "history_id")
                    .values_list("status", "assignee_id", "history_change_reason"))
    assert by_clerk == [(CaseStatus.OPEN, clerk.pk, "assigned to self"), (CaseStatus.RESOLVED, clerk.pk, REASON)]
    assert case_state(gap)[:2] == (CaseStatus.OPEN, None)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_auditor_sees_the_timeline_and_no_action_form(page, login, clerk, auditor, entity_a, account_a, open_case,
                                                      js_errors):
    case = open_case(account_a, entity=entity_a, amount="250.00", currency="EUR")
    # The clerk's work, through the same services the queue's buttons call (the clerk's test drives the UI).
    services.case_assign(case_id=case.pk, assignee=clerk, actor=clerk, reason="assigned to self")
    services.case_resolve(case_id=case.pk, actor=clerk, reason=REASON)

    login(page, auditor, next=f"/cases/{case.pk}/")
    expect(page.get_by_test_id("status")).to_have_text("Resolved")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_be_visible()
    resolved_entry = timeline.locator(":scope > li").filter(has=page.locator("span.reason", has_text=REASON))
    expect(resolved_entry).to_have_count(1)
    expect(resolved_entry.locator("strong")).to_have_text("clara")
    assigned_entry = timeline.locator(":scope > li").filter(
        has=page.locator("span.reason", has_text="assigned to self"))
    expect(assigned_entry.locator("strong")).to_have_text("clara")

    expect(page.get_by_test_id("case-actions")).to_have_count(0)
    for name in ("Assign to me", "Start work", "Resolve", "Dismiss"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    assert js_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_auditor_post_to_act_is_refused_with_403_and_changes_nothing(page, login, auditor, entity_a, account_a,
                                                                     open_case):
    case = open_case(account_a, entity=entity_a, amount="250.00", currency="EUR")
    login(page, auditor, next=f"/cases/{case.pk}/")
    expect(page.get_by_test_id("case-actions")).to_have_count(0)
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
    assert token and any(c["name"] == "csrftoken" for c in page.context.cookies())
    before = case_state(case)

    refusals = {}
    for action, fields in (("assign_me", {}), ("resolve", {"reason": "auditor says so"}), ("dismiss", {"reason": "x"})):
        for htmx in (True, False):
            headers = {"X-CSRFToken": token, **({"HX-Request": "true"} if htmx else {})}
            response = page.request.post(f"/cases/{case.pk}/act/", form={"action": action, **fields},
                                         headers=headers, max_redirects=0)
            body = response.text()
            assert "CSRF verification failed" not in body, "the POST must pass CSRF: the role check is under test"
            refusals[(action, "htmx" if htmx else "form")] = (response.status,
                                                              "Your role does not allow this." in body)

    assert case_state(case) == before  # nothing changed: status, assignee, note, history, events
    assert refusals == {key: (403, True) for key in refusals}, f"auditor POSTs were not refused: {refusals}"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_clerk_of_de01_sees_nothing_of_us01(page, login, clerk, entity_a, entity_b, account_a, account_b, open_case):
    de_case = open_case(account_a, entity=entity_a, amount="250.00", currency="EUR")
    us_case = open_case(account_b, kind="payment.rejected_by_bank", entity=entity_b, amount="1200.00",
                        currency="USD", message="AC04 account closed at JPMorgan Chase")

    login(page, clerk)
    expect(case_row(page, de_case)).to_be_visible()
    expect(any_row(page, us_case)).to_have_count(0)
    expect(page.get_by_test_id("queue-table")).not_to_contain_text("AC04")
    expect(page.locator("select[name=entity] option")).to_have_text(["All entities", "DE01"])

    page.goto("/cases/?kind=payment.rejected_by_bank")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()

    response = page.goto(f"/cases/{us_case.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator("main")).not_to_contain_text("AC04")

    before = case_state(us_case)
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
    response = page.request.post(f"/cases/{us_case.pk}/act/", form={"action": "assign_me"},
                                 headers={"X-CSRFToken": token, "HX-Request": "true"}, max_redirects=0)
    assert response.status == 404
    assert case_state(us_case) == before


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_resolving_without_a_reason_shows_the_service_error_and_keeps_the_case_open(
    page, login, clerk, entity_a, account_a, open_case, js_errors
):
    case = open_case(account_a, entity=entity_a, amount="250.00", currency="EUR")
    other = open_case(account_a, kind="statement.gap", entity=entity_a)  # so the case is not the only row
    login(page, clerk)
    before = case_state(case)
    row = case_row(page, case)
    reason = row.get_by_test_id("reason")

    # The browser's own check: an empty required field blocks the submit.
    assert reason.get_attribute("required") is not None
    assert reason.evaluate("el => el.validity.valueMissing") is True

    # Blanks satisfy `required` but not the service: a user can send them without any tampering.
    mark_page(page)
    reason.fill("   ")
    row.get_by_role("button", name="Resolve").click()
    expect(row.get_by_role("alert")).to_have_text("A reason is required to move to resolved.")
    expect(row.get_by_test_id("status")).to_have_text("Open")
    assert_same_page(page)

    # And with the browser's check removed, an empty reason reaches the server, which refuses it too.
    row.get_by_test_id("reason").evaluate("el => el.removeAttribute('required')")
    row.get_by_test_id("reason").fill("")
    with page.expect_response(f"**/cases/{case.pk}/act/") as posted:
        row.get_by_role("button", name="Resolve").click()
    sent = parse_qs(posted.value.request.post_data, keep_blank_values=True)
    assert sent["action"] == ["resolve"] and sent["reason"] == [""]
    assert "A reason is required to move to resolved." in posted.value.text()
    expect(row.get_by_role("alert")).to_have_text("A reason is required to move to resolved.")
    expect(row.get_by_test_id("status")).to_have_text("Open")
    expect(page.locator(f'tr#case-{case.pk}[data-testid="case-closed"]')).to_have_count(0)

    assert case_state(case) == before
    assert case_state(other)[0] == CaseStatus.OPEN
    assert js_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_bulk_assign_selected_to_me(page, login, clerk, entity_a, account_a, open_case, js_errors):
    first = open_case(account_a, entity=entity_a, amount="250.00", currency="EUR")
    second = open_case(account_a, kind="statement.gap", entity=entity_a)
    untouched = open_case(entity_a, kind="statement.rejected", entity=entity_a, message="Line 12: bad amount")

    login(page, clerk)
    expect(page.locator('tr[data-testid="case-row"]')).to_have_count(3)
    mark_page(page)
    page.get_by_label(f"Select case {first.pk}").check()
    page.get_by_label(f"Select case {second.pk}").check()
    page.get_by_role("button", name="Assign selected to me").click()

    expect(case_row(page, first).get_by_test_id("assignee")).to_have_text("clara")
    expect(case_row(page, second).get_by_test_id("assignee")).to_have_text("clara")
    expect(case_row(page, untouched).get_by_test_id("assignee")).to_have_text("—")
    assert_same_page(page)
    assert js_errors == []

    assert [ExceptionCase.objects.get(pk=c.pk).assignee_id for c in (first, second, untouched)] == [
        clerk.pk, clerk.pk, None]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_login_with_a_wrong_password_stays_on_the_login_page(page, live_server, clerk):
    page.goto("/login/")
    page.fill("#id_username", "clara")
    page.fill("#id_password", "not-the-password")
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    assert urlparse(page.url).path == "/login/"
    expect(page.locator("#id_username")).to_have_value("clara")
    expect(page.get_by_test_id("current-user")).to_have_count(0)
