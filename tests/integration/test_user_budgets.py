"""Per-end-user budgets through the real gateway (uvicorn, mock upstream): 64 concurrent
requests from one end user never overspend that user's strict budget, while another end user
of the same tenant, under the same "*" budget, is served as if alone. On the embedded default
(database counters under a row lock; SQLite with no REDIS_URL) and on Redis (Lua)."""

import asyncio
import time
from decimal import Decimal

import httpx
import pytest

from tests.integration.conftest import settle_events
from tests.support.mock_upstreams import Ok

pytestmark = pytest.mark.slow

LIMIT = Decimal("0.006")
BODY = {
    "model": "openai/gpt-4o-mini",
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "Say hello"}],
}


def _user_budget(gw):
    from billing.models import Budget
    from billing.services.budget_specs import budget_cache_invalidate

    gw.set_config(fallback_models=[])
    budget = Budget(tenant=gw.tenant, scope="user", end_user="*", period="daily", limit_usd=LIMIT)
    budget.full_clean()
    budget.save()
    budget_cache_invalidate()
    return budget


def _fire(gw, users: list[str]) -> list[httpx.Response]:
    async def fire():
        async with httpx.AsyncClient(
            base_url=gw.url, headers={"Authorization": f"Bearer {gw.secret}"}, timeout=60
        ) as client:
            return await asyncio.gather(
                *(
                    client.post("/v1/chat/completions", json=BODY, headers={"X-Tollgate-User": u})
                    for u in users
                )
            )

    return asyncio.run(fire())


def _check_one_user_held_and_the_other_free(gw) -> list[httpx.Response]:
    # Every answer costs nearly its worst case (1000 output tokens at $0.60 per 1M) and arrives
    # late enough that all requests are in flight together.
    gw.upstreams["openai"].script(*[Ok(input_tokens=1, output_tokens=1000, delay=0.5)] * 68)
    users = ["alice"] * 64
    users[10:10] = ["bob"] * 4  # bob's requests in the middle of alice's burst
    responses = _fire(gw, users)
    by_user = {"alice": [], "bob": []}
    for user, response in zip(users, responses, strict=True):
        by_user[user].append(response)
    alice_ok = [r for r in by_user["alice"] if r.status_code == 200]
    refused = [r for r in by_user["alice"] if r.status_code != 200]
    assert {r.status_code for r in refused} == {402}
    assert all(r.json()["error"]["code"] == "budget_exceeded" for r in refused)
    assert "end user 'alice'" in refused[0].json()["error"]["message"]
    assert 5 <= len(alice_ok) < 64  # about LIMIT / worst case; the rest are refused
    alice_spent = sum(Decimal(r.headers["X-Tollgate-Cost-USD"]) for r in alice_ok)
    assert alice_spent <= LIMIT
    assert [r.status_code for r in by_user["bob"]] == [200] * 4  # alice's budget is hers alone
    events = settle_events(68)
    billed = {
        user: sum(e.cost_usd for e in events if e.end_user == user) for user in ("alice", "bob")
    }
    assert billed["alice"] == alice_spent <= LIMIT
    assert billed["bob"] == sum(Decimal(r.headers["X-Tollgate-Cost-USD"]) for r in by_user["bob"])
    assert len(gw.upstreams["openai"].requests) == len(alice_ok) + 4
    return alice_ok


def test_64_concurrent_requests_of_one_end_user_on_the_embedded_default(gw, settings):
    if settings.REDIS_URL:
        pytest.skip("REDIS_URL is set: the Redis variant below covers this run")
    _user_budget(gw)
    _check_one_user_held_and_the_other_free(gw)


def test_64_concurrent_requests_of_one_end_user_on_redis(redis_client, gw):
    from billing.services.budget_specs import tenant_budgets
    from billing.services.counter_plans import counter_plans
    from billing.services.micros import to_micros

    _user_budget(gw)
    alice_ok = _check_one_user_held_and_the_other_free(gw)
    budgets = tenant_budgets(tenant_id=gw.tenant.pk)
    [plan] = counter_plans(budgets=budgets, api_key_id=None, config_id=None, end_user="alice")
    deadline = time.monotonic() + 5
    while True:  # settlements run just after each answer is sent
        counter = {k.decode(): int(v) for k, v in redis_client.hgetall(plan.key).items()}
        if counter.get("rm", 0) == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert counter.get("rm", 0) == 0
    assert counter["sm"] == sum(to_micros(r.headers["X-Tollgate-Cost-USD"]) for r in alice_ok)


def test_requests_without_an_end_user_are_not_held_by_user_budgets(gw):
    _user_budget(gw)
    gw.upstreams["openai"].script(*[Ok(input_tokens=1, output_tokens=1000)] * 12)
    statuses = [gw.post(BODY).status_code for _ in range(12)]  # 12 x $0.0006 > LIMIT
    assert statuses == [200] * 12
