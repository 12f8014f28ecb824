"""Console test fixtures: a routing config, an API key and a usage history of the tenant; the
browser for the browser tests, a login through the admin's form, and screenshots."""

import os
from pathlib import Path

import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the browser fixture says what is missing
    sync_playwright = None

from console.tests.support import usage_history
from tenants.services import api_key_create
from tests.support.catalog import config_create


@pytest.fixture
def app_key(tenant):
    key, _secret = api_key_create(tenant=tenant, scopes=["inference"], name="app")
    return key


@pytest.fixture
def default_config(tenant, edge_case_catalog):
    return config_create(tenant, name="default", is_default=True)


@pytest.fixture
def history(tenant, app_key, default_config):
    return usage_history(tenant, api_key=app_key, config=default_config)


# --- Browser tests: Debian's Chromium driven by Playwright, against pytest-django's live server.

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium; missing, a browser test fails under CI (.ci/run installs it) and is
    skipped elsewhere. Module-scoped: Playwright's sync API runs an event loop in this thread
    while it is open, which the suite's async tests after these must not find running."""
    if not Path(CHROMIUM).exists() or sync_playwright is None:
        message = f"Browser tests need {CHROMIUM} and the playwright package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # The tests' own ORM calls run between Playwright's calls, beside its loop.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 1000}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def login(page, username: str) -> None:
    """Through the admin's login form, as a person would (fixtures' password scheme)."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}-123")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url("**/admin/")


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
