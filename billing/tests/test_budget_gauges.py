"""The budget and task gauges of /metrics: each active budget's spend as a percentage of its
limit (the higher of cost and tokens), set by the budget evaluation task, which also marks its
last success; a budget without a limit in force is left out."""

from datetime import UTC, datetime

import pytest

from billing import tasks
from billing.services.budget_gauges import budget_gauges_refresh
from billing.services.budget_specs import budget_cache_invalidate
from billing.tests.test_budget_support import make_budget, make_event
from config.celery import app
from core.metrics import REGISTRY
from core.redis import get_redis


@pytest.fixture(autouse=True)
def _fresh_budgets():
    """No cached budgets, no counters of an earlier test (Redis, when set)."""
    budget_cache_invalidate()
    client = get_redis()
    if client is not None:
        client.flushdb()


def _used(budget) -> float | None:
    labels = {
        "tenant": budget.tenant.slug,
        "budget": str(budget.pk),
        "scope": budget.scope,
        "period": budget.period,
    }
    return REGISTRY.get_sample_value("tollgate_budget_used_percent", labels)


@pytest.mark.django_db
def test_each_budget_reports_its_share_of_the_limit(tenant, other_tenant):
    cost_limited = make_budget(tenant, period="daily", limit_usd="4.00")
    tokens_too = make_budget(tenant, period="monthly", limit_usd="100.00", limit_tokens=1000)
    untouched = make_budget(other_tenant, period="daily", limit_usd="1.00")
    make_event(tenant, at=datetime.now(UTC), cost="1.00", input_tokens=600, output_tokens=150)
    assert budget_gauges_refresh() == 3
    assert _used(cost_limited) == 25.0
    assert _used(tokens_too) == 75.0  # 750 of 1000 tokens outweighs 1 % of the money
    assert _used(untouched) == 0.0


@pytest.mark.django_db(transaction=True)
def test_the_evaluation_task_sets_the_gauges_and_its_last_success(tenant):
    budget = make_budget(tenant, period="daily", limit_usd="2.00")
    make_event(tenant, at=datetime.now(UTC), cost="0.50")
    before = datetime.now(UTC).timestamp()
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        tasks.evaluate_budgets.delay().get()
    finally:
        app.conf.task_always_eager = previous
    assert _used(budget) == 25.0
    marked = REGISTRY.get_sample_value(
        "tollgate_task_last_success_timestamp_seconds", {"task": "evaluate_budgets"}
    )
    assert marked is not None and marked >= before
