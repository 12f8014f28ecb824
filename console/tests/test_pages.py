"""Every console page: who may see it (members and operators; anyone else a 404), who may
change (owners and admins; viewers get 403), and that it renders its figures."""

import csv
import json
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import BillingExport, Budget
from billing.services.budget_status import budget_status
from console.tests.support import event_at
from tenants.models import AuditEntry


def tenant_urls(tenant, config=None, export=None) -> list[str]:
    slug = {"slug": tenant.slug}
    urls = [
        reverse(name, kwargs=slug)
        for name in (
            "console:dashboard",
            "console:usage",
            "console:usage-events-csv",
            "console:budgets",
            "console:audit",
            "console:exports",
            "console:configs",
            "console:config-new",
        )
    ]
    if config is not None:
        urls.append(reverse("console:config-edit", kwargs={**slug, "config_id": config.pk}))
    if export is not None:
        urls.append(reverse("console:export-download", kwargs={**slug, "export_id": export.pk}))
    return urls


@pytest.fixture
def ready_export(tenant):
    from billing.services.exports import export_create

    return export_create(tenant=tenant, month="2026-10")


def test_outsider_gets_404_on_every_page(client, tenant, outsider, default_config, ready_export):
    client.force_login(outsider)
    for url in tenant_urls(tenant, default_config, ready_export):
        assert client.get(url).status_code == 404, url
    slug = {"slug": tenant.slug}
    posts = [
        reverse("console:config-edit", kwargs={**slug, "config_id": default_config.pk}),
        reverse("console:config-preview", kwargs={**slug, "config_id": default_config.pk}),
        reverse("console:export-regenerate", kwargs=slug),
    ]
    for url in posts:
        assert client.post(url, {"month": "2026-10"}).status_code == 404, url
    assert client.get(reverse("console:dashboard", kwargs={"slug": "no-such"})).status_code == 404
    assert client.get(reverse("console:operator")).status_code == 404


def test_anonymous_goes_to_login(client, tenant):
    response = client.get(reverse("console:dashboard", kwargs={"slug": tenant.slug}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("who", ["owner", "member", "operator"])
def test_every_page_renders(client, request, tenant, who, history, default_config, ready_export):
    client.force_login(request.getfixturevalue(who))
    for url in tenant_urls(tenant, default_config, ready_export):
        response = client.get(url)
        assert response.status_code == 200, url


def test_pick_tenant_redirects_a_single_tenant_member(client, tenant, owner):
    client.force_login(owner)
    response = client.get(reverse("console:go", kwargs={"page": "usage"}))
    assert response["Location"] == reverse("console:usage", kwargs={"slug": tenant.slug})


def test_dashboard_chart_data_from_rollups_and_today(client, tenant, owner, history, app_key):
    monthly = Budget.objects.create(tenant=tenant, period="monthly", limit_usd=Decimal("0.01"))
    daily = Budget.objects.create(tenant=tenant, period="daily", limit_tokens=1000)
    by_key = Budget.objects.create(
        tenant=tenant, scope="key", api_key=app_key, period="monthly", limit_usd=Decimal(1)
    )
    client.force_login(owner)
    response = client.get(reverse("console:dashboard", kwargs={"slug": tenant.slug}))
    d = response.context["d"]
    chart = d["chart"]
    by_model = {
        ds["label"]: sum(Decimal(v) for v in ds["data"]) for ds in chart["by"]["model"]["datasets"]
    }
    assert by_model == {
        "openai/gpt-4o-mini": Decimal("0.0200"),
        "anthropic/claude-haiku-4-5": Decimal("0.0200"),
    }
    providers = dict(zip(chart["providers"]["labels"], chart["providers"]["data"], strict=True))
    assert providers == {"openai": "0.02", "anthropic": "0.02"}
    assert d["kpis"]["requests"] == history["requests"]
    assert d["kpis"]["errors"] == 1 and d["kpis"]["fallbacks"] == 1
    assert d["spend_today"] == Decimal("0.0065")
    assert "$0.0065" in response.content.decode()  # small spend is visible, not "$0.01"
    # "exp": one event on a rolled-up day, one today (from the same pass as the charts)
    assert [(t["tag"], t["requests"], t["cost"]) for t in d["top_tags"]] == [
        ("exp", 2, Decimal("0.0265"))
    ]
    assert d["top_keys"][0]["label"].startswith("app (tg_")
    # The budget bars read the dashboard's own rows: the same figures as the budgets API.
    lines = {line.budget.pk: line.status for line in d["budgets"]}
    for budget in (monthly, daily, by_key):
        assert lines[budget.pk] == budget_status(budget=budget), budget
    assert lines[daily.pk].spent_tokens == 120  # today's one event, 100 + 20 tokens
    assert {row["model"] for row in d["latency"]} == {
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
    }


def test_usage_csv_sums(client, tenant, owner, history):
    client.force_login(owner)
    url = reverse("console:usage", kwargs={"slug": tenant.slug})
    start = "2026-01-01"
    response = client.get(url, {"start": start, "group_by": "model", "format": "csv"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("model,requests,input_tokens,output_tokens,cached_tokens,cost_usd,")
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert Decimal(rows["total"][5]) == history["cost"]
    assert int(rows["total"][1]) == history["requests"]
    events = client.get(
        reverse("console:usage-events-csv", kwargs={"slug": tenant.slug}),
        {"start": start, "provider": "anthropic"},
    )
    body = b"".join(events.streaming_content).decode().splitlines()
    assert len(body) == 2 and "anthropic/claude-haiku-4-5" in body[1]


def test_usage_bad_filter_is_a_clear_400(client, tenant, owner):
    client.force_login(owner)
    url = reverse("console:usage", kwargs={"slug": tenant.slug})
    response = client.get(url, {"start": "2026-05-01", "end": "2026-04-01"})
    assert response.status_code == 400
    assert "end: Must not be before start." in response.content.decode()
    response = client.get(url, {"status": "nope", "config": "x"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "status: &quot;nope&quot; is not a valid choice." in page
    assert "config: A valid integer is required." in page


def test_viewer_cannot_change_anything(client, tenant, member, default_config):
    client.force_login(member)
    slug = {"slug": tenant.slug}
    edit = reverse("console:config-edit", kwargs={**slug, "config_id": default_config.pk})
    assert client.post(edit, {"config_json": "{}"}).status_code == 403
    assert client.post(reverse("console:config-new", kwargs=slug), {}).status_code == 403
    generate = reverse("console:export-regenerate", kwargs=slug)
    assert client.post(generate, {"month": "2026-10"}).status_code == 403
    assert not BillingExport.objects.exists()
    page = client.get(edit).content.decode()
    assert 'id="tg-save" disabled' in page


def _document(**fields):
    doc = {
        "name": "code",
        "is_default": False,
        "primary_model": "openai/gpt-4o-mini",
        "fallback_models": ["anthropic/claude-haiku-4-5"],
        "use_byok": False,
        "params": {"temperature": 0.2},
        "rules": [{"when": {"task": "code"}, "route": {"model": "openai/gpt-4.1"}}],
        "cache_ttl_seconds": 0,
    }
    doc.update(fields)
    return doc


def test_editor_saves_a_config_and_names_bad_fields(client, tenant, owner, edge_case_catalog):
    client.force_login(owner)
    new = reverse("console:config-new", kwargs={"slug": tenant.slug})
    bad = _document(rules=[{"when": {"task": "code"}, "route": {"model": "openai/nope"}}])
    response = client.post(new, {"config_json": json.dumps(bad)})
    assert response.status_code == 400
    assert response.context["editor"]["errors"] == {
        "rules[0].route.model": ["Unknown or inactive model 'openai/nope'."]
    }
    assert client.post(new, {"config_json": "[1"}).status_code == 400
    response = client.post(new, {"config_json": json.dumps(_document())})
    assert response.status_code == 302
    config = tenant.routing_configs.get(name="code")
    assert config.fallback_models == ["anthropic/claude-haiku-4-5"]
    assert config.rules[0]["route"]["model"] == "openai/gpt-4.1"
    entry = AuditEntry.objects.get(object_type="routing_config", action="create")
    assert entry.actor == "alice" and entry.via == "session"


def test_preview_of_a_draft(client, tenant, member, default_config):
    client.force_login(member)  # a dry run: viewers may
    url = reverse(
        "console:config-preview", kwargs={"slug": tenant.slug, "config_id": default_config.pk}
    )
    draft = _document(name="default", is_default=True)
    body = {"config": draft, "task": "code", "prompt": "Refactor this function"}
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "openai/gpt-4.1"
    assert response.json()["rule_index"] == 0
    body["task"] = "chat"
    assert client.post(url, json.dumps(body), content_type="application/json").json()["model"] == (
        "openai/gpt-4o-mini"
    )
    default_config.refresh_from_db()
    assert default_config.rules == []  # the draft was not saved
    body["config"] = _document(primary_model="nope/nope")
    bad = client.post(url, json.dumps(body), content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {
        "primary_model": ["Unknown or inactive model 'nope/nope'."]
    }


def test_operator_dashboard(client, operator, owner, history):
    client.force_login(owner)
    assert client.get(reverse("console:operator")).status_code == 404
    client.force_login(operator)
    response = client.get(reverse("console:operator"))
    assert response.status_code == 200
    o = response.context["o"]
    assert o["total_requests"] >= 1
    assert o["backlog"]["source"] in ("embedded", "redis")


def test_rollups_are_not_in_a_tenant_admins_menu(client, owner, operator):
    client.force_login(owner)
    assert client.get(reverse("admin:billing_dailyrollup_changelist")).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert "/admin/billing/dailyrollup/" not in index
    client.force_login(operator)
    assert client.get(reverse("admin:billing_dailyrollup_changelist")).status_code == 200


def test_dashboard_top_end_users(client, tenant, owner, history):
    from datetime import timedelta

    from billing.services.rollups import rollups_refresh_tenant
    from console.tests.support import event_at, local_today

    event_at(tenant, days_ago=3, end_user="cust-a", cost_usd=Decimal("0.0100"))
    event_at(tenant, days_ago=0, hour=0, end_user="cust-a", cost_usd=Decimal("0.0005"))
    event_at(tenant, days_ago=1, end_user="cust-b", cost_usd=Decimal("0.0200"))
    event_at(tenant, days_ago=40, end_user="cust-old", cost_usd=Decimal("9"))  # not in 30 days
    today = local_today(tenant)
    days = [today - timedelta(days=n) for n in (1, 3, 40)]
    rollups_refresh_tenant(tenant=tenant, days=days)  # final days, rolled up again
    client.force_login(owner)
    response = client.get(reverse("console:dashboard", kwargs={"slug": tenant.slug}))
    top = [(r["user"], r["requests"], r["cost"]) for r in response.context["d"]["top_users"]]
    assert top == [("cust-b", 1, Decimal("0.0200")), ("cust-a", 2, Decimal("0.0105"))]
    assert 'data-user="cust-a"' in response.content.decode()


def test_usage_csvs_carry_every_token_class_and_the_end_user(client, tenant, owner):
    """The columns after the first ones: cache writes, reasoning and (raw events) the end user,
    summed in the aggregate exactly as the events hold them."""
    event_at(
        tenant, days_ago=0, hour=0, cache_write_tokens=700, reasoning_tokens=40, end_user="u-1"
    )
    event_at(tenant, days_ago=0, hour=0, cache_write_tokens=5, reasoning_tokens=0, end_user="")
    client.force_login(owner)
    slug = {"slug": tenant.slug}
    aggregate = client.get(
        reverse("console:usage", kwargs=slug), {"group_by": "model", "format": "csv"}
    )
    lines = b"".join(aggregate.streaming_content).decode().splitlines()
    header = lines[0].split(",")
    assert header[:6] == [
        "model",
        "requests",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost_usd",
    ]
    total = dict(zip(header, lines[-1].split(","), strict=True))
    assert (total["cache_write_tokens"], total["reasoning_tokens"]) == ("705", "40")
    events = client.get(reverse("console:usage-events-csv", kwargs=slug))
    rows = list(csv.DictReader(b"".join(events.streaming_content).decode().splitlines()))
    assert sorted(
        (r["cache_write_tokens"], r["reasoning_tokens"], r["end_user"]) for r in rows
    ) == [
        ("5", "0", ""),
        ("700", "40", "u-1"),
    ]
