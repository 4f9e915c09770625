"""Browser fixtures: Debian's chromium driven by Playwright's sync API against pytest-django's live_server.

Browsers cannot be downloaded here, so we never run `playwright install`: we launch the system chromium
(`/usr/bin/chromium`, or the binary named by FINOPS_CHROMIUM). A missing browser is a failure, not a skip,
unless FINOPS_SKIP_BROWSER=1 says so explicitly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API keeps an asyncio event loop "running" in the test's thread (it switches greenlets
# around it), so from the first browser fixture onwards Django sees a running loop and refuses ORM calls made
# by the test itself (fixtures that create users and cases, assertions on the DB) with
# SynchronousOnlyOperation. Those calls are plain blocking code in a plain test thread: nothing runs
# concurrently on that loop, so allowing them is safe here. The browser is session-wide, so the loop stays
# alive for the rest of the run; the setting is therefore process-wide rather than per test.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_TIMEOUT_MS = 10_000
PASSWORD = "correct-horse-battery"  # make_user's default


def _chromium_path() -> str:
    return os.environ.get("FINOPS_CHROMIUM") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = _chromium_path()
    resolved = shutil.which(path) if not os.path.isabs(path) else path
    if resolved and Path(resolved).is_file() and os.access(resolved, os.X_OK):
        return resolved
    why = (f"chromium not found or not executable at {path!r}. Install Debian's chromium (`make chromium` or "
           "`apt-get install chromium`) or set FINOPS_CHROMIUM to a Chromium binary; never `playwright install`.")
    if os.environ.get("FINOPS_SKIP_BROWSER") == "1":
        pytest.skip(f"FINOPS_SKIP_BROWSER=1: browser tests skipped on purpose ({why})")
    pytest.fail(why + " Set FINOPS_SKIP_BROWSER=1 to skip the browser tests deliberately.", pytrace=False)


@pytest.fixture(scope="session")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def js_errors() -> list[str]:
    """Uncaught JavaScript errors of the test's pages; tests assert it stays empty (htmx must load and run)."""
    return []


@pytest.fixture
def page(context, js_errors):
    page = context.new_page()
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    return page


@pytest.fixture
def login():
    """Log ``user`` in through the real login form and land on ``next`` (default: the queue)."""

    def do(page, user, *, password: str = PASSWORD, next: str = "/cases/"):
        page.goto(f"/login/?next={next}")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        assert page.url.endswith(next), f"login as {user.username} did not land on {next}: {page.url}"
        return page

    return do
