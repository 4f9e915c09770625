"""The statement pages in a real browser: treasury uploads a camt.053, lands on its import run, opens the
statement and narrows its entries by text through HTMX without a page load."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from apps.statements.models import ImportRun, Statement
from apps.statements.services import statement_file_import
from tests.conftest import BankAccountFactory
from tests.statements.builders import E, camt

NO_RELOAD = "window.__finopsNoReload"


@pytest.fixture
def treasurer(make_user, entity_a):
    return make_user("treasury", entities=[entity_a], username="tess")


def earlier_statements(entity_a) -> None:
    """A week of history on two accounts, so the cash chart has lines to draw."""
    BankAccountFactory(entity=entity_a, iban="DE65100700000123456789", name="Payroll")
    main, payroll = Decimal("1000.00"), Decimal("8000.00")
    for n, day in enumerate(["2026-10-26", "2026-10-27", "2026-10-28", "2026-10-29", "2026-10-30"]):
        move = Decimal((-1) ** n * 150 + 40 * n)
        for iban, opening, amount, prefix in (("DE89370400440532013000", main, move, "M"),
                                               ("DE65100700000123456789", payroll, -abs(move) * 3, "P")):
            statement_file_import(
                content=camt(iban=iban, stmt_id=f"{prefix}-{n}", seq=str(n + 1), opening=f"{opening:.2f}",
                             entries=[E(f"{amount:.2f}", ref=f"{prefix}{n}", day=day, text=f"Day {n}")],
                             period=(day, day)),
                filename=f"{prefix}{n}.xml", source="test",
            )
        main += move
        payroll -= abs(move) * 3


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_treasury_uploads_a_camt_then_filters_its_entries_without_reloading(
    page, login, treasurer, entity_a, account_a, settings, tmp_path, js_errors
):
    settings.MEDIA_ROOT = tmp_path
    earlier_statements(entity_a)
    opening = Statement.objects.filter(bank_account=account_a).order_by("-statement_date").first().closing_booked
    content = camt(stmt_id="NOV-02", seq="6", opening=f"{opening:.2f}", entries=[
        E("1250.00", ref="B1", text="Invoice 4711 Globex Corporation"),
        E("-310.40", ref="B2", text="Office chairs Initech"),
        E("-19.99", ref="B3", text="Card fee", return_reason="AC04"),
    ], period=("2026-11-02", "2026-11-02"))

    login(page, treasurer, next="/statements/upload/")
    page.set_input_files('input[name="file"]', files=[
        {"name": "nov02.xml", "mimeType": "application/xml", "buffer": content}])
    page.select_option('select[name="format"]', "camt053")
    with page.expect_navigation():
        page.get_by_role("button", name="Import").click()

    run = ImportRun.objects.get(raw_document__filename="nov02.xml")
    assert page.url.endswith(f"/statements/imports/{run.pk}/")
    expect(page.get_by_test_id("run-status")).to_have_text("Imported")
    expect(page.get_by_test_id("run-imported")).to_have_text("3")
    expect(page.locator("#messages")).to_contain_text("3 new entries imported")

    page.get_by_test_id("run-statement-links").get_by_role("link").first.click()
    statement = Statement.objects.get(import_run=run)
    page.wait_for_url(f"**/statements/{statement.pk}/")
    expect(page.get_by_test_id("balance-check")).to_contain_text("Balances agree.")
    expect(page.get_by_test_id("entry-row")).to_have_count(3)
    page.screenshot(path="/tmp/stmt.png", full_page=True)

    page.evaluate(f"{NO_RELOAD} = 'same document'")
    page.get_by_test_id("entry-search").fill("globex")
    expect(page.get_by_test_id("entry-row")).to_have_count(1)
    expect(page.get_by_test_id("entry-row")).to_contain_text("Invoice 4711 Globex Corporation")
    assert page.evaluate(f"{NO_RELOAD} ?? null") == "same document", "the page reloaded instead of swapping"
    page.wait_for_url("**q=globex**")
    page.get_by_test_id("entry-search").fill("")
    expect(page.get_by_test_id("entry-row")).to_have_count(3)
    page.select_option('select[name="is_return"]', "true")
    expect(page.get_by_test_id("entry-row")).to_have_count(1)
    expect(page.get_by_test_id("badge-return")).to_contain_text("AC04")
    assert page.evaluate(f"{NO_RELOAD} ?? null") == "same document"

    page.goto("/statements/cash/")
    expect(page.get_by_test_id("cash-chart")).to_have_count(1)
    expect(page.get_by_test_id("chart-line")).to_have_count(2)
    assert sorted(page.get_by_test_id("chart-line").evaluate_all(
        "lines => lines.map(l => l.points.numberOfItems)")) == [5, 6]
    page.screenshot(path="/tmp/cash.png", full_page=True)
    assert js_errors == []
