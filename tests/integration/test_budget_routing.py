"""Budget-aware routing: a `budget_used_pct_gte` rule reads the same counters the budget uses."""

import time

from tests.support.mock_upstreams import Ok

BODY = {"model": "auto", "max_tokens": 1000, "messages": [{"role": "user", "content": "Hi"}]}


def test_rule_switches_model_once_the_budget_is_half_spent(gw, monkeypatch):
    from billing.models import Budget
    from billing.services import budgets
    from billing.services.budget_specs import budget_cache_invalidate
    from billing.services.budgets import budget_used_pct_sync

    monkeypatch.setattr(budgets, "USED_PCT_TTL_SECONDS", 0.2)

    gw.set_config(
        fallback_models=[],
        rules=[
            {"when": {"budget_used_pct_gte": 50}, "route": {"model": "google/gemini-2.5-flash"}}
        ],
    )
    Budget.objects.create(tenant=gw.tenant, period="monthly", limit_usd="0.001", mode="soft")
    budget_cache_invalidate()
    # 1000 output tokens at $0.60 per 1M: $0.0006, 60 % of the budget.
    gw.upstreams["openai"].script(Ok(input_tokens=1, output_tokens=1000))

    first = gw.post(BODY)
    assert first.status_code == 200
    assert first.headers["X-Tollgate-Model"] == "openai/gpt-4o-mini"
    deadline = time.monotonic() + 5  # settlement may finish just after the response
    while (budget_used_pct_sync(tenant_id=gw.tenant.pk, config_id=gw.config.pk) or 0) < 50:
        assert time.monotonic() < deadline, "the first request was never settled"
        time.sleep(0.05)
    time.sleep(0.2)  # the gateway's view of the percentage is at most USED_PCT_TTL_SECONDS old

    second = gw.post(BODY)
    assert second.status_code == 200
    assert second.headers["X-Tollgate-Model"] == "google/gemini-2.5-flash"
    assert len(gw.upstreams["google"].requests) == 1


def test_config_without_budget_rules_does_not_read_budget_state():
    from llm.services.routing_snapshots import ConfigInfo

    def info(rules):
        return ConfigInfo(
            pk=1,
            name="c",
            is_default=True,
            primary_model="openai/gpt-4o-mini",
            fallback_models=(),
            use_byok=False,
            params={},
            rules=rules,
            cache_ttl_seconds=0,
        )

    assert not info([{"when": {"task": "code"}, "route": {"model": "x"}}]).reads_budget_state
    assert info([{"when": {"budget_used_pct_gte": 80}, "route": {"model": "x"}}]).reads_budget_state
