"""64 concurrent requests through the real ASGI app (uvicorn, mock upstream) against a strict
budget: the spend never passes the limit. Uses the gateway's integration harness."""

import asyncio
import time
from decimal import Decimal

import httpx
import pytest

from tests.integration.conftest import settle_events
from tests.support.mock_upstreams import Ok

pytestmark = pytest.mark.slow

LIMIT = Decimal("0.006")


def test_64_concurrent_requests_never_overspend_a_strict_budget(redis_client, gw):
    from billing.models import Budget
    from billing.services.budget_specs import budget_cache_invalidate

    gw.set_config(fallback_models=[])
    Budget.objects.create(tenant=gw.tenant, period="daily", limit_usd=LIMIT, mode="strict")
    budget_cache_invalidate()
    # Every answer costs nearly its worst case (1000 output tokens at $0.60 per 1M), and arrives
    # late enough that all 64 requests are in flight together.
    gw.upstreams["openai"].script(*[Ok(input_tokens=1, output_tokens=1000, delay=0.5)] * 64)
    body = {
        "model": "openai/gpt-4o-mini",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "Say hello"}],
    }

    async def fire():
        async with httpx.AsyncClient(
            base_url=gw.url, headers={"Authorization": f"Bearer {gw.secret}"}, timeout=60
        ) as client:
            return await asyncio.gather(
                *(client.post("/v1/chat/completions", json=body) for _ in range(64))
            )

    responses = asyncio.run(fire())
    statuses = [r.status_code for r in responses]
    ok = [r for r in responses if r.status_code == 200]
    assert set(statuses) == {200, 402}, statuses
    assert 5 <= len(ok) < 64  # about LIMIT / worst case; the rest are refused
    assert all(
        r.json()["error"]["code"] == "budget_exceeded" for r in responses if r.status_code == 402
    )
    spent = sum(Decimal(r.headers["X-Tollgate-Cost-USD"]) for r in ok)
    assert spent <= LIMIT
    events = settle_events(64)
    billed = sum(e.cost_usd for e in events)
    assert billed == spent <= LIMIT
    assert len(gw.upstreams["openai"].requests) == len(ok)
    # Settlements run just after each answer is sent: they all land, the holds all go back.
    from billing.services.budget_specs import tenant_budgets
    from billing.services.counter_plans import counter_plans
    from billing.services.micros import to_micros

    budgets = tenant_budgets(tenant_id=gw.tenant.pk)
    [plan] = counter_plans(budgets=budgets, api_key_id=None, config_id=None)
    deadline = time.monotonic() + 5
    while True:
        counter = {k.decode(): int(v) for k, v in redis_client.hgetall(plan.key).items()}
        if counter.get("rm", 0) == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert counter.get("rm", 0) == 0
    assert counter["sm"] == sum(to_micros(r.headers["X-Tollgate-Cost-USD"]) for r in ok)
