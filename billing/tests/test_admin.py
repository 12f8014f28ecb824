"""Admin for usage and billing records, the dashboard, and a smoke render of every admin page."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from billing.models import (
    AlertDelivery,
    BillingExport,
    Budget,
    BudgetAlert,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    DailyUserRollup,
    MonthlyRollup,
    UsageEvent,
)
from config.unfold import UNFOLD
from llm.models import Provider, RoutingConfig
from tenants.services import api_key_create, credential_set

_ids = itertools.count(1)


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def event(tenant, *, model="openai/gpt-4o-mini", cost="0.10", status="success", when=None):
    return UsageEvent.objects.create(
        request_id=f"req-{next(_ids)}",
        tenant=tenant,
        model=model,
        requested_model=model,
        provider=model.split("/")[0],
        status=status,
        input_tokens=100,
        output_tokens=50,
        cost_usd=Decimal(cost),
        created_at=when or timezone.now(),
    )


@pytest.fixture
def usage(tenant, other_tenant):
    return {
        "a": [
            event(tenant, cost="1.25"),
            event(tenant, model="anthropic/claude-sonnet-4", cost="2.50"),
            event(tenant, cost="0", status="error"),
        ],
        "b": [event(other_tenant, model="mistral/secret-model-b", cost="7.00")],
    }


def test_usage_events_scoped_and_filterable(client, owner, usage):
    client.force_login(owner)
    response = client.get(url("billing_usageevent_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "anthropic/claude-sonnet-4" in body
    assert "secret-model-b" not in body  # neither as a row nor as a filter choice
    assert response.context["cl"].result_count == 3
    filtered = client.get(url("billing_usageevent_changelist"), {"status__exact": "error"})
    assert filtered.context["cl"].result_count == 1
    by_model = client.get(
        url("billing_usageevent_changelist"), {"model": "anthropic/claude-sonnet-4"}
    )
    assert by_model.context["cl"].result_count == 1
    event(usage["a"][0].tenant, cost="9", when=timezone.now() - timedelta(days=30))
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    by_date = client.get(url("billing_usageevent_changelist"), {"created_at_from": since})
    assert by_date.status_code == 200
    assert by_date.context["cl"].result_count == 3
    assert client.get(url("billing_usageevent_changelist")).context["cl"].result_count == 4
    until = (timezone.now() - timedelta(days=20)).date().isoformat()
    old = client.get(url("billing_usageevent_changelist"), {"created_at_to": until})
    assert old.context["cl"].result_count == 1
    other = usage["b"][0]
    assert client.get(url("billing_usageevent_change", other.pk)).status_code == 404


def test_usage_events_read_only_even_for_operators(client, operator, usage):
    client.force_login(operator)
    item = usage["a"][0]
    assert client.get(url("billing_usageevent_add")).status_code == 403
    page = client.get(url("billing_usageevent_change", item.pk))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = client.post(url("billing_usageevent_change", item.pk), {"cost_usd": "0"})
    assert response.status_code == 403
    assert (
        client.post(url("billing_usageevent_delete", item.pk), {"post": "yes"}).status_code == 403
    )
    response = client.post(
        url("billing_usageevent_changelist"),
        {"action": "delete_selected", "_selected_action": [item.pk], "post": "yes"},
    )
    assert UsageEvent.objects.filter(pk=item.pk).exists()
    item.refresh_from_db()
    assert item.cost_usd == Decimal("1.25")


def test_dashboard_for_tenant_admin(client, owner, usage, settings):
    settings.UNFOLD = UNFOLD
    client.force_login(owner)
    response = client.get(url("index"))
    assert response.status_code == 200
    dash = response.context["tollgate_dashboard"]
    assert dash["spend_today"] == Decimal("3.75")
    assert dash["requests_today"] == 3 and dash["failed_today"] == 1
    assert dash["timezone"] == "Europe/Berlin"
    assert [row["model"] for row in dash["top_models"]][:2] == [
        "anthropic/claude-sonnet-4",
        "openai/gpt-4o-mini",
    ]
    body = response.content.decode()
    assert "tollgate-dashboard" in body and "$3.75" in body
    assert "secret-model-b" not in body


def test_dashboard_for_operator_counts_all_tenants(client, operator, usage, settings):
    settings.UNFOLD = UNFOLD
    client.force_login(operator)
    dash = client.get(url("index")).context["tollgate_dashboard"]
    assert dash["spend_month"] == Decimal("10.75")
    assert dash["requests_month"] == 4
    assert dash["top_models"][0]["model"] == "mistral/secret-model-b"


def test_dashboard_ignores_last_month(client, operator, tenant, settings):
    settings.UNFOLD = UNFOLD
    event(tenant, cost="5", when=timezone.now() - timedelta(days=40))
    client.force_login(operator)
    dash = client.get(url("index")).context["tollgate_dashboard"]
    assert dash["spend_month"] == Decimal("0.00") and dash["requests_month"] == 0


def test_budget_form_offers_only_own_configs_and_keys(client, owner, tenant, other_tenant):
    mine = RoutingConfig.objects.create(tenant=tenant, name="mine", primary_model="x/y")
    theirs = RoutingConfig.objects.create(tenant=other_tenant, name="theirs", primary_model="x/y")
    api_key_create(tenant=other_tenant, scopes=["inference"], name="their-key")
    client.force_login(owner)
    form = client.get(url("billing_budget_add")).context["adminform"].form
    assert list(form.fields["config"].queryset) == [mine]
    assert not form.fields["api_key"].queryset.exists()
    response = client.post(
        url("billing_budget_add"),
        {
            "scope": "config",
            "config": theirs.pk,
            "period": "monthly",
            "limit_usd": "10",
            "mode": "strict",
            "alert_thresholds": "[80]",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "config" in response.context["adminform"].form.errors
    assert not Budget.objects.exists()


@pytest.fixture
def everything(tenant, other_tenant, usage, owner):
    provider = Provider.objects.create(
        slug="openai",
        name="OpenAI",
        wire_format="openai_chat",
        base_url="https://api.openai.com/v1",
    )
    credential_set(tenant=tenant, provider=provider, api_key="sk-smoke-key-0001")
    api_key_create(tenant=tenant, scopes=["inference"], name="smoke")
    RoutingConfig.objects.create(tenant=tenant, name="smoke", primary_model="openai/gpt-4o-mini")
    budget = Budget.objects.create(tenant=tenant, period="monthly", limit_usd=Decimal(10))
    alert = BudgetAlert.objects.create(
        budget=budget, tenant=tenant, period_key="2026-11", threshold=80, used_pct=Decimal(81)
    )
    AlertDelivery.objects.create(alert=alert, tenant=tenant, attempt=1, outcome="delivered")
    DailyUserRollup.objects.create(
        tenant=tenant, day=timezone.localdate(), end_user="cust-1", status="success"
    )
    DailyRollup.objects.create(tenant=tenant, day=timezone.localdate(), key_source="platform")
    MonthlyRollup.objects.create(tenant=tenant, month="2026-11", key_source="platform")
    DailyTagRollup.objects.create(
        tenant=tenant, day=timezone.localdate(), tag="smoke", status="success"
    )
    DailyTagSetRollup.objects.create(
        tenant=tenant, day=timezone.localdate(), tags=["smoke"], status="success"
    )
    BillingExport.objects.create(tenant=tenant, month="2026-11", version=1)


@pytest.mark.parametrize("who", ["operator", "owner", "member"])
def test_every_admin_page_renders(client, request, everything, catalog, who, settings):
    settings.UNFOLD = UNFOLD
    user = request.getfixturevalue(who)
    client.force_login(user)
    assert client.get(url("index")).status_code == 200
    rendered = 0
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        response = client.get(url(f"{prefix}_changelist"))
        if who != "operator" and (opts.app_label == "auth" or "rollup" in opts.model_name):
            assert response.status_code == 403  # operators' tables only
            continue
        assert response.status_code == 200, prefix
        rendered += 1
        add = client.get(url(f"{prefix}_add"))
        assert add.status_code in (200, 403), prefix
        obj = model_admin.get_queryset(response.wsgi_request).first()
        if obj is not None:
            change = client.get(url(f"{prefix}_change", obj.pk))
            assert change.status_code == 200, prefix
            history = client.get(url(f"{prefix}_history", obj.pk))
            assert history.status_code == 200, prefix
    assert rendered >= (12 if who == "operator" else 8)  # tenant admins: no rollup tables


def test_budget_form_takes_a_user_budget_and_names_a_missing_end_user(client, owner, tenant):
    client.force_login(owner)
    fields = {
        "scope": "user",
        "period": "daily",
        "limit_usd": "2",
        "mode": "strict",
        "alert_thresholds": "[]",
        "is_active": "on",
    }
    refused = client.post(url("billing_budget_add"), {**fields, "end_user": ""})
    assert refused.status_code == 200
    assert "end_user" in refused.context["adminform"].form.errors
    assert not Budget.objects.exists()
    saved = client.post(url("billing_budget_add"), {**fields, "end_user": "*"})
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    assert Budget.objects.get().scope_label == "each end user"


@pytest.fixture
def deliveries(tenant, other_tenant):
    """An alert delivery and an end-user rollup row of each tenant."""
    rows = {}
    for who, owner_of in (("a", tenant), ("b", other_tenant)):
        budget = Budget.objects.create(tenant=owner_of, period="monthly", limit_usd=Decimal(10))
        alert = BudgetAlert.objects.create(
            budget=budget, tenant=owner_of, period_key="2026-11", threshold=80, used_pct=Decimal(81)
        )
        rows[who] = AlertDelivery.objects.create(
            alert=alert,
            tenant=owner_of,
            attempt=1,
            url_host=f"hooks-{who}.example",
            outcome="http_error",
            status_code=503,
        )
        rows[f"user_{who}"] = DailyUserRollup.objects.create(
            tenant=owner_of, day=timezone.localdate(), end_user=f"cust-{who}", status="success"
        )
    return rows


def test_operator_sees_alert_deliveries_and_user_rollups(client, operator, deliveries):
    client.force_login(operator)
    listed = client.get(url("billing_alertdelivery_changelist"))
    assert {obj.pk for obj in listed.context["cl"].queryset} == {
        deliveries["a"].pk,
        deliveries["b"].pk,
    }
    rollups = client.get(url("billing_dailyuserrollup_changelist"))
    assert rollups.status_code == 200 and "cust-b" in rollups.content.decode()
    page = client.get(url("billing_alertdelivery_change", deliveries["b"].pk))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(url("billing_alertdelivery_add")).status_code == 403
    index = client.get(url("index")).content.decode()
    assert "/admin/billing/dailyuserrollup/" in index


def test_tenant_admin_sees_own_alert_deliveries_and_no_user_rollups(client, owner, deliveries):
    client.force_login(owner)
    listed = client.get(url("billing_alertdelivery_changelist"))
    assert [obj.pk for obj in listed.context["cl"].queryset] == [deliveries["a"].pk]
    assert "hooks-b.example" not in listed.content.decode()
    assert client.get(url("billing_alertdelivery_change", deliveries["a"].pk)).status_code == 200
    assert client.get(url("billing_alertdelivery_change", deliveries["b"].pk)).status_code == 404
    own, theirs = deliveries["user_a"].pk, deliveries["user_b"].pk
    assert client.get(url("billing_dailyuserrollup_change", own)).status_code == 403
    assert client.get(url("billing_dailyuserrollup_change", theirs)).status_code == 404
    assert client.get(url("billing_dailyuserrollup_changelist")).status_code == 403
    index = client.get(url("index")).content.decode()
    assert "/admin/billing/dailyuserrollup/" not in index
    assert "/admin/billing/alertdelivery/" in index
