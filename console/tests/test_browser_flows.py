"""The admin web app in a real browser (headless Chromium) against the live server: what a
tenant admin does, what a viewer cannot do, and what another tenant's admin cannot see.
Every page visited is written to artifacts/screenshots/."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from billing.models import UsageEvent
from console.tests.conftest import login, screenshot
from tenants.models import AuditEntry, ProviderCredential

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BYOK_SECRET = "sk-browser-test-secret-zyxw-9876"


def _pages(slug: str) -> list[str]:
    return [
        f"/console/t/{slug}/",
        f"/console/t/{slug}/usage/",
        f"/console/t/{slug}/budgets/",
        f"/console/t/{slug}/configs/",
        f"/console/t/{slug}/configs/new/",
        f"/console/t/{slug}/exports/",
        f"/console/t/{slug}/audit/",
    ]


def _downloaded_text(download) -> str:
    with open(download.path(), encoding="utf-8") as fh:
        return fh.read()


def test_byok_key_goes_in_and_never_comes_out(page, tenant, owner, edge_case_catalog):
    login(page, "alice")
    page.goto("/admin/tenants/providercredential/add/")
    page.select_option("select[name=provider]", label="openai")
    page.fill("input[name=api_key]", BYOK_SECRET)
    page.click("button[name=_save], input[name=_save], button[type=submit][name=_save]")
    page.wait_for_url("**/admin/tenants/providercredential/")
    credential = ProviderCredential.objects.get(tenant=tenant)
    assert credential.last4 == "9876"
    screenshot(page, "admin-credentials")
    visited = [
        "/admin/tenants/providercredential/",
        f"/admin/tenants/providercredential/{credential.pk}/change/",
        f"/admin/tenants/providercredential/{credential.pk}/history/",
        "/api/v1/credentials/",
        "/api/v1/audit/",
        *_pages(tenant.slug),
    ]
    for url in visited:
        response = page.goto(url)
        assert response.status == 200, url
        assert BYOK_SECRET not in page.content(), url
        assert BYOK_SECRET[:-4] not in page.content(), url
    page.goto(f"/admin/tenants/providercredential/{credential.pk}/change/")
    assert page.input_value("input[name=api_key]") == ""  # write-only
    page.goto(f"/console/t/{tenant.slug}/audit/")
    row = page.locator("#tg-audit tbody tr[data-object-type=credential]").first
    assert "alice" in row.inner_text() and "create" in row.inner_text()
    assert "***" in row.inner_text()
    screenshot(page, "console-audit")


def test_config_editor_picker_rules_and_preview(page, tenant, owner, edge_case_catalog):
    login(page, "alice")
    page.goto(f"/console/t/{tenant.slug}/configs/new/")
    page.fill("#tg-name", "coding")
    page.press("#tg-name", "Tab")
    page.fill("#tg-picker-search", "haiku")
    assert page.locator("#tg-picker [data-model]").count() == 1
    page.click("#tg-picker [data-model='anthropic/claude-haiku-4-5'] [data-action=primary]")
    page.fill("#tg-picker-search", "openai fast")
    page.click("#tg-picker [data-model='openai/gpt-4o-mini'] [data-action=fallback]")
    assert page.inner_text("#tg-primary") == "anthropic/claude-haiku-4-5"
    assert page.locator("#tg-fallbacks li").count() == 1
    page.click("#tg-add-rule")
    page.select_option("[data-add-condition='0']", "task")
    page.fill("[data-rule='0'] [data-cond-value=task]", "code")
    page.press("[data-rule='0'] [data-cond-value=task]", "Tab")
    page.select_option("[data-path='rules[0].route.model']", "openai/gpt-4.1")
    # The live preview: a coding task goes to the rule's model, anything else to the primary.
    page.fill("#tg-pv-task", "code")
    page.fill("#tg-pv-prompt", "Refactor this Python function")
    page.click("#tg-pv-run")
    page.wait_for_function(
        "document.getElementById('tg-pv-model')?.textContent === 'openai/gpt-4.1'"
    )
    assert "rule" in page.inner_text("#tg-pv-reason")
    assert re.match(r"^\$\d+\.\d+$", page.inner_text("#tg-pv-cost"))
    screenshot(page, "console-config-editor")
    page.fill("#tg-pv-task", "chat")
    page.click("#tg-pv-run")
    page.wait_for_function(
        "document.getElementById('tg-pv-model')?.textContent === 'anthropic/claude-haiku-4-5'"
    )
    page.click("#tg-save")
    page.wait_for_url(re.compile(r".*/configs/\d+/$"))
    config = tenant.routing_configs.get(name="coding")
    assert config.primary_model == "anthropic/claude-haiku-4-5"
    assert config.fallback_models == ["openai/gpt-4o-mini"]
    assert config.rules == [{"when": {"task": "code"}, "route": {"model": "openai/gpt-4.1"}}]
    # The advanced JSON view holds the same config; a bad model there is named by its path.
    text = page.input_value("#tg-json").replace("openai/gpt-4.1", "openai/nope")
    page.fill("#tg-json", text)
    page.click("#tg-apply-json")
    page.click("#tg-save")
    error = page.locator("[data-error-path='rules[0].route.model']")
    assert "Unknown or inactive model 'openai/nope'" in error.inner_text()
    page.goto(f"/console/t/{tenant.slug}/audit/")
    row = page.locator("#tg-audit tbody tr[data-object-type=routing_config]").first
    assert "create" in row.inner_text() and "alice" in row.inner_text()


def test_dashboard_chart_shows_the_events(page, tenant, owner, history):
    login(page, "alice")
    page.goto(f"/console/t/{tenant.slug}/")
    page.wait_for_function("window.tollgateCharts && window.tollgateCharts.daily")
    drawn = page.evaluate(
        "() => window.tollgateCharts.daily.data.datasets.map(d => [d.label, d.raw])"
    )
    by_model = {label: sum(Decimal(v) for v in raw) for label, raw in drawn}
    assert by_model == {k: v for k, v in history["by_model"].items()}
    labels = page.evaluate("() => window.tollgateCharts.daily.data.labels")
    assert len(labels) == 30
    page.click("#tg-daily-switch [data-by=provider]")
    drawn = page.evaluate(
        "() => window.tollgateCharts.daily.data.datasets.map(d => [d.label, d.raw])"
    )
    assert {label: sum(Decimal(v) for v in raw) for label, raw in drawn} == history["by_provider"]
    donut = page.evaluate("() => window.tollgateCharts.providers.data.labels")
    assert set(donut) == {"openai", "anthropic"}
    assert page.inner_text("[data-metric=requests]") == str(history["requests"])
    assert page.inner_text("[data-metric=spend_today]") == "$0.0065"
    screenshot(page, "console-dashboard")


def test_usage_explorer_filters_and_csv(page, tenant, owner, history):
    login(page, "alice")
    page.goto(f"/console/t/{tenant.slug}/usage/")
    first = UsageEvent.objects.filter(tenant=tenant).order_by("created_at").first()
    start = first.created_at.astimezone(tenant.tzinfo).date().isoformat()
    page.fill("input[name=start]", start)
    page.select_option("select[name=group_by]", "model")
    page.select_option("select[name=provider]", "openai")
    page.click("#tg-usage-apply")
    page.wait_for_url(re.compile(r".*provider=openai.*"))
    assert "group_by=model" in page.url  # sharable: the filters are in the URL
    expected = UsageEvent.objects.filter(tenant=tenant, provider="openai").aggregate(
        c=Sum("cost_usd")
    )["c"]
    requests = UsageEvent.objects.filter(tenant=tenant, provider="openai").count()
    assert page.inner_text("#tg-usage-table [data-total=requests]") == str(requests)
    drawn = page.evaluate("() => window.tollgateCharts.usage.data.datasets[0].raw")
    assert sum(Decimal(v) for v in drawn) == expected
    screenshot(page, "console-usage")
    with page.expect_download() as download:
        page.click("#tg-usage-csv")
    rows = list(csv.reader(io.StringIO(_downloaded_text(download.value))))
    assert rows[0][0] == "model" and rows[-1][0] == "total"
    assert Decimal(rows[-1][5]) == expected
    assert sum(Decimal(r[5]) for r in rows[1:-1]) == expected
    with page.expect_download() as download:
        page.click("#tg-usage-events-csv")
    events = list(csv.DictReader(io.StringIO(_downloaded_text(download.value))))
    assert len(events) == requests
    assert sum(Decimal(e["cost_usd"]) for e in events) == expected


def test_export_download(page, tenant, owner, history):
    login(page, "alice")
    first = UsageEvent.objects.filter(tenant=tenant).order_by("created_at").first()
    month = first.created_at.astimezone(tenant.tzinfo).strftime("%Y-%m")
    page.goto(f"/console/t/{tenant.slug}/exports/")
    page.fill("#tg-export-form input[name=month]", month)
    page.click("#tg-export-form button[type=submit]")
    page.wait_for_selector(".tg-export-download")
    screenshot(page, "console-exports")
    with page.expect_download() as download:
        page.click(".tg-export-download")
    rows = list(csv.DictReader(io.StringIO(_downloaded_text(download.value))))
    in_month = [
        e
        for e in UsageEvent.objects.filter(tenant=tenant)
        if e.created_at.astimezone(tenant.tzinfo).strftime("%Y-%m") == month
    ]
    assert sum(Decimal(r["cost_usd"]) for r in rows) == sum(e.cost_usd for e in in_month)
    assert sum(int(r["requests"]) for r in rows) == len(in_month)


def test_budgets_and_operator_pages(page, tenant, operator, history):
    from billing.models import Budget

    Budget.objects.create(tenant=tenant, period="monthly", limit_usd=Decimal("1.00"))
    login(page, "op")
    page.goto(f"/console/t/{tenant.slug}/budgets/")
    assert page.inner_text("[data-budget] [data-field=spent_usd]").startswith("$")
    screenshot(page, "console-budgets")
    page.goto("/console/operator/")
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    this_month = UsageEvent.objects.filter(created_at__gte=month_start).count()  # UTC month
    assert page.inner_text("[data-metric=total_requests]") == str(this_month)
    page.wait_for_function("window.tollgateCharts && window.tollgateCharts.tenants")
    screenshot(page, "console-operator")


def test_viewer_cannot_save(page, tenant, member, default_config):
    login(page, "bob")
    page.goto(f"/console/t/{tenant.slug}/configs/{default_config.pk}/")
    assert page.locator("#tg-save").is_disabled()
    assert page.locator("#tg-add-rule").is_disabled()
    assert page.locator("#tg-readonly-note").is_visible()
    # Even a hand-made POST with the page's CSRF token is refused.
    status = page.evaluate(
        """async () => {
            const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
            const body = new URLSearchParams({csrfmiddlewaretoken: token, config_json: '{}'});
            const r = await fetch(location.pathname, {method: 'POST', body, credentials: 'same-origin'});
            return r.status;
        }"""
    )
    assert status == 403
    page.goto(f"/console/t/{tenant.slug}/exports/")
    assert page.locator("#tg-export-form").count() == 0
    screenshot(page, "console-config-viewer")


def test_other_tenants_admin_gets_404_everywhere(page, tenant, outsider, default_config):
    login(page, "mallory")
    urls = [
        *_pages(tenant.slug),
        f"/console/t/{tenant.slug}/configs/{default_config.pk}/",
        f"/console/t/{tenant.slug}/usage/events.csv",
        f"/admin/llm/routingconfig/{default_config.pk}/change/",
    ]
    for url in urls:
        assert page.goto(url).status == 404, url
    assert AuditEntry.objects.filter(tenant_ref=tenant.pk).exists()
    page.goto("/api/v1/audit/")
    assert '"routing_config"' not in page.content()  # only the other tenant's own changes
