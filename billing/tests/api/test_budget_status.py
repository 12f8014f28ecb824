"""budgets/ status fields (spent, remaining, percent used, the period in the tenant's time zone)
and budgets/{id}/alerts/ (the alert deliveries), for the owner, a member and an outsider."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import Budget, BudgetAlert
from billing.services.budget_status import budget_statuses
from billing.services.rollups import rollups_refresh_tenant
from billing.services.spend_truth import spend_truth
from billing.tests.api.conftest import make_event
from core.calendar import period_window
from llm.models import RoutingConfig
from tests.support.api import assert_error

URL = "/api/v1/budgets/"
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)  # Acme is in Europe/Berlin: 12:00 local


@pytest.fixture
def spending(tenant, other_tenant, small_catalog):
    """A monthly tenant budget, a daily config budget with a token limit, and usage: an earlier
    day of the month (rolled up), today (raw), last month, and another tenant's."""
    config = RoutingConfig.objects.create(tenant=tenant, name="plan", primary_model="gpt-4.1")
    with time_machine.travel(NOW, tick=False):
        make_event(tenant, "b1", datetime(2026, 11, 10, 9, tzinfo=UTC), cost_usd=Decimal("0.25"))
        make_event(
            tenant,
            "b2",
            datetime(2026, 11, 20, 8, tzinfo=UTC),
            cost_usd=Decimal("0.0065"),
            config=config,
            input_tokens=300,
            output_tokens=50,
        )
        make_event(tenant, "b3", datetime(2026, 10, 31, 12, tzinfo=UTC), cost_usd=Decimal(5))
        make_event(other_tenant, "b4", datetime(2026, 11, 20, 9, tzinfo=UTC), cost_usd=Decimal(9))
        rollups_refresh_tenant(tenant=tenant)
    monthly = Budget.objects.create(
        tenant=tenant, period="monthly", limit_usd=Decimal("1.00"), alert_thresholds=[50, 80]
    )
    daily = Budget.objects.create(
        tenant=tenant, scope="config", config=config, period="daily", limit_tokens=1000
    )
    return {"monthly": monthly, "daily": daily}


def test_status_fields(owner_client, spending):
    with time_machine.travel(NOW, tick=False):
        body = owner_client.get(f"{URL}{spending['monthly'].pk}/").json()
        listed = {b["id"]: b for b in owner_client.get(URL).json()["results"]}
    assert body["spent_usd"] == "0.2565"
    assert body["remaining_usd"] == "0.7435"
    assert body["used_pct"] == "25.65"
    assert body["spent_tokens"] == 110 + 350  # b1 + b2 (input + output tokens)
    assert body["period_start"] == "2026-11-01T00:00:00+01:00"
    assert body["period_end"] == "2026-12-01T00:00:00+01:00"
    daily = listed[spending["daily"].pk]
    assert daily["spent_usd"] == "0.0065"
    assert daily["remaining_usd"] is None  # no cost limit
    assert daily["spent_tokens"] == 350
    assert daily["used_pct"] == "35.00"
    assert daily["period_start"] == "2026-11-20T00:00:00+01:00"
    assert daily["period_end"] == "2026-11-21T00:00:00+01:00"


def test_member_reads_status_outsider_gets_404(member_client, outsider_client, spending):
    pk = spending["monthly"].pk
    with time_machine.travel(NOW, tick=False):
        assert member_client.get(f"{URL}{pk}/").json()["spent_usd"] == "0.2565"
        assert_error(outsider_client.get(f"{URL}{pk}/"), 404, "not_found")
        assert outsider_client.get(URL).json()["count"] == 0


@pytest.fixture
def alerts(tenant, spending):
    budget = spending["monthly"]
    sent = BudgetAlert.objects.create(
        budget=budget,
        tenant=tenant,
        period_key="2026-11",
        threshold=50,
        used_pct=Decimal("51.20"),
        spent_usd=Decimal("0.512"),
        webhook_sent_at=datetime(2026, 11, 15, 10, tzinfo=UTC),
        delivery_attempts=1,
    )
    failed = BudgetAlert.objects.create(
        budget=budget,
        tenant=tenant,
        period_key="2026-11",
        threshold=80,
        used_pct=Decimal("80.50"),
        spent_usd=Decimal("0.805"),
        delivery_attempts=3,
        last_error="webhook: HTTP 500",
    )
    return sent, failed


def test_alert_history(owner_client, member_client, outsider_client, spending, alerts):
    _sent, failed = alerts
    url = f"{URL}{spending['monthly'].pk}/alerts/"
    body = owner_client.get(url).json()
    assert body["count"] == 2
    first, second = body["results"]
    assert first["id"] == failed.pk  # newest first
    assert first["threshold"] == 80 and first["used_pct"] == "80.50"
    assert first["delivered"] is False and first["sent_to"] == []
    assert first["last_error"] == "webhook: HTTP 500" and first["delivery_attempts"] == 3
    assert second["delivered"] is True and second["sent_to"] == ["webhook"]
    assert second["spent_usd"] == "0.512"
    assert member_client.get(url).status_code == 200
    assert_error(outsider_client.get(url), 404, "not_found")
    other = owner_client.get(f"{URL}{spending['daily'].pk}/alerts/").json()
    assert other["count"] == 0


def test_alert_history_by_key_scope(key_client, spending, alerts):
    url = f"{URL}{spending['monthly'].pk}/alerts/"
    assert key_client("read").get(url).json()["count"] == 2
    assert_error(key_client("inference").get(url), 403, "permission_denied")


def test_statuses_of_many_budgets_equal_the_spend_truth(tenant, spending):
    """The batched read (two queries for every budget) sums what spend_truth sums per budget."""
    extra = Budget.objects.create(
        tenant=tenant,
        scope="config",
        config=spending["daily"].config,
        period="monthly",
        limit_usd=Decimal(1),
    )
    budgets = [spending["monthly"], spending["daily"], extra]
    with time_machine.travel(NOW, tick=False):
        statuses = budget_statuses(budgets=budgets)
        for budget in budgets:
            window = period_window(period=budget.period, tz=tenant.tzinfo)
            scope_id = budget.config_id if budget.scope == "config" else 0
            cost, tokens = spend_truth(
                tenant_id=tenant.pk,
                scope=budget.scope,
                scope_id=scope_id or 0,
                window=window,
                tz=tenant.tzinfo,
            )
            assert (statuses[budget.pk].spent_usd, statuses[budget.pk].spent_tokens) == (
                cost,
                tokens,
            ), budget
