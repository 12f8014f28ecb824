"""Budget enforcement on Redis: atomic Lua reserve/settle/release over micro-dollars."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from asgiref.sync import sync_to_async

from billing.models import BudgetHold
from billing.services.budget_failover import (
    _probe,
    _rehold,
    enter_database_mode,
    in_database_mode,
)
from billing.services.budget_specs import tenant_budgets
from billing.services.budgets import (
    budget_release,
    budget_reserve,
    budget_settle,
    budget_used_pct,
)
from billing.services.counter_plans import counter_plans
from billing.services.counters_rebuild import counters_rebuild
from billing.services.counters_redis import seeds_key, tenant_keys
from billing.tests.test_budget_support import (
    fresh_async_redis,  # noqa: F401
    make_budget,
    make_event,
    make_key,
)
from core.errors import BudgetExceeded
from core.redis import get_pipelined_redis
from tests.support.catalog import config_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_async_redis")]


def _counter(redis_client, key: str) -> dict:
    raw = redis_client.hgetall(key)
    return {k.decode(): int(v) for k, v in raw.items()}


async def _reserve(tenant, cost: str, *, key=None, config=None, tokens: int = 0):
    return await budget_reserve(
        tenant_id=tenant.pk,
        api_key_id=key.pk if key else None,
        config_id=config.pk if config else None,
        worst_case_cost_usd=Decimal(cost),
        worst_case_tokens=tokens,
    )


def _tenant_key(tenant, period="monthly", at=None):
    budgets = tenant_budgets(tenant_id=tenant.pk)
    plans = counter_plans(budgets=budgets, api_key_id=None, config_id=None, at=at)
    return next(p.key for p in plans if p.period == period)


async def test_without_budgets_nothing_is_held(tenant, redis_client):
    reservation = await _reserve(tenant, "5")
    assert reservation.backend == ""
    await budget_settle(reservation=reservation, actual_cost_usd=Decimal(1), actual_tokens=10)
    assert redis_client.keys("tg:bud:*") == []


async def test_settle_replaces_the_hold_with_the_actual_cost(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    reservation = await _reserve(tenant, "0.30", tokens=500)
    key = await sync_to_async(_tenant_key)(tenant)
    held = _counter(redis_client, key)
    assert held["rm"] == 300_000
    assert "rt" not in held  # no token limit: the tokens are not held on this counter
    await budget_settle(
        reservation=reservation, actual_cost_usd=Decimal("0.1000004"), actual_tokens=120
    )
    state = _counter(redis_client, key)
    assert (state["sm"], state["rm"], state["st"]) == (100_001, 0, 120)
    assert await budget_used_pct(tenant_id=tenant.pk, config_id=None) == Decimal("10.00")
    # Settling twice does not count twice.
    await budget_settle(reservation=reservation, actual_cost_usd=Decimal("0.1"), actual_tokens=1)
    assert _counter(redis_client, key)["sm"] == 100_001


async def test_used_pct_is_read_at_most_once_per_ttl(tenant, redis_client, monkeypatch):
    from billing.services import budgets

    monkeypatch.setattr(budgets, "USED_PCT_TTL_SECONDS", 0.3)
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    assert await budget_used_pct(tenant_id=tenant.pk, config_id=None) == Decimal("0.00")
    reservation = await _reserve(tenant, "0.50")
    await budget_settle(reservation=reservation, actual_cost_usd=Decimal("0.5"), actual_tokens=1)
    assert await budget_used_pct(tenant_id=tenant.pk, config_id=None) == Decimal("0.00")
    await asyncio.sleep(0.35)
    assert await budget_used_pct(tenant_id=tenant.pk, config_id=None) == Decimal("50.00")


async def test_64_concurrent_reservations_never_overspend(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    key = await sync_to_async(make_key)(tenant)
    await sync_to_async(make_budget)(tenant, scope="key", api_key=key, limit_usd="2.00")
    results = await asyncio.gather(
        *(_reserve(tenant, "0.07", key=key) for _ in range(64)), return_exceptions=True
    )
    held = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(held) == 14  # floor(1.00 / 0.07)
    assert len(refused) == 50
    assert "monthly budget for tenant 'acme' exceeded" in refused[0].message
    # Every request then costs its full worst case: still within the limit.
    await asyncio.gather(
        *(
            budget_settle(reservation=r, actual_cost_usd=Decimal("0.07"), actual_tokens=1)
            for r in held
        )
    )
    state = _counter(redis_client, await sync_to_async(_tenant_key)(tenant))
    assert state["sm"] == 980_000 <= 1_000_000
    assert state["rm"] == 0


async def test_all_or_nothing_across_scopes(tenant, redis_client):
    config = await sync_to_async(config_create)(tenant, name="plan", validate=False)
    await sync_to_async(make_budget)(tenant, limit_usd="10.00")
    await sync_to_async(make_budget)(
        tenant, scope="config", config=config, period="daily", limit_usd="0.10"
    )
    with pytest.raises(BudgetExceeded) as info:
        await _reserve(tenant, "0.20", config=config)
    assert info.value.status == 402
    assert info.value.message.startswith("daily budget for config 'plan' exceeded")
    # The tenant budget was not charged by the refused request.
    assert _counter(redis_client, await sync_to_async(_tenant_key)(tenant)).get("rm", 0) == 0


async def test_key_budget_message_names_key_and_period(tenant, redis_client):
    key = await sync_to_async(make_key)(tenant, "ci")
    await sync_to_async(make_budget)(tenant, scope="key", api_key=key, limit_usd="0.01")
    with pytest.raises(BudgetExceeded, match="monthly budget for key 'ci' exceeded"):
        await _reserve(tenant, "0.02", key=key)
    # Another key is not limited by it.
    other = await sync_to_async(make_key)(tenant, "web")
    await _reserve(tenant, "0.02", key=other)


async def test_release_gives_the_hold_back(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    first = await _reserve(tenant, "0.80")
    with pytest.raises(BudgetExceeded):
        await _reserve(tenant, "0.80")
    await budget_release(reservation=first)
    second = await _reserve(tenant, "0.80")
    assert second.backend == "redis"
    assert _counter(redis_client, await sync_to_async(_tenant_key)(tenant))["sm"] == 0


async def test_a_hold_expires_when_its_process_dies(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        await _reserve(tenant, "0.80")  # never settled nor released
        with pytest.raises(BudgetExceeded):
            await _reserve(tenant, "0.80")
        traveller.shift(timedelta(minutes=10))
        await _reserve(tenant, "0.80")
    rz = tenant_keys(tenant.pk)[0]
    assert redis_client.zcard(rz) == 1


async def test_settle_after_expiry_still_counts_the_spend(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        late = await _reserve(tenant, "0.50")
        traveller.shift(timedelta(minutes=10))
        await _reserve(tenant, "0.01")  # sweeps the expired hold
        await budget_settle(reservation=late, actual_cost_usd=Decimal("0.40"), actual_tokens=5)
    state = _counter(redis_client, await sync_to_async(_tenant_key)(tenant))
    assert state["sm"] == 400_000
    assert state["rm"] == 10_000


async def test_soft_budget_never_blocks_but_counts(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, mode="soft", limit_usd="0.10")
    reservations = [await _reserve(tenant, "0.08") for _ in range(3)]
    for reservation in reservations:
        await budget_settle(
            reservation=reservation, actual_cost_usd=Decimal("0.08"), actual_tokens=1
        )
    assert await budget_used_pct(tenant_id=tenant.pk, config_id=None) == Decimal("240.00")


async def test_token_limit(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, limit_usd=None, limit_tokens=1000, period="daily")
    ok = await _reserve(tenant, "0", tokens=600)
    with pytest.raises(BudgetExceeded, match=r"daily budget for tenant 'acme' exceeded \(token"):
        await _reserve(tenant, "0", tokens=600)
    await budget_settle(reservation=ok, actual_cost_usd=Decimal(0), actual_tokens=300)
    await _reserve(tenant, "0", tokens=600)


async def test_lost_counters_are_reseeded_once_from_the_database(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    now = datetime.now(UTC)
    for _ in range(4):
        await sync_to_async(make_event)(tenant, at=now - timedelta(seconds=5), cost="0.10")
    redis_client.flushdb()  # Redis lost everything
    results = await asyncio.gather(
        *(_reserve(tenant, "0.05") for _ in range(32)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 12  # (1.00 - 0.40) / 0.05
    assert int(redis_client.get(seeds_key(tenant.pk))) == 1
    assert _counter(redis_client, await sync_to_async(_tenant_key)(tenant))["sm"] == 400_000


async def test_new_local_day_starts_a_new_period(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, period="daily", limit_usd="1.00")
    # 23:59 in Berlin (UTC+1 in November)
    with time_machine.travel(datetime(2026, 11, 21, 22, 59, tzinfo=UTC), tick=False):
        held = await _reserve(tenant, "0.90")
        assert held.backend == "redis"  # a past period's counter still lives in Redis
        await budget_settle(reservation=held, actual_cost_usd=Decimal("0.90"), actual_tokens=1)
        with pytest.raises(BudgetExceeded):
            await _reserve(tenant, "0.20")
    with time_machine.travel(datetime(2026, 11, 21, 23, 0, 1, tzinfo=UTC), tick=False):
        await _reserve(tenant, "0.90")


async def test_dst_change_day_and_29_february(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, period="daily", limit_usd="1.00")
    # 25 October 2026, 00:30 CEST and 23:30 CET are the same (25-hour) local day.
    with time_machine.travel(datetime(2026, 10, 24, 22, 30, tzinfo=UTC), tick=False):
        r = await _reserve(tenant, "0.60")
        assert r.backend == "redis"
        await budget_settle(reservation=r, actual_cost_usd=Decimal("0.60"), actual_tokens=1)
    with (
        time_machine.travel(datetime(2026, 10, 25, 22, 30, tzinfo=UTC), tick=False),
        pytest.raises(BudgetExceeded),
    ):
        await _reserve(tenant, "0.60")
    with time_machine.travel(datetime(2026, 10, 25, 23, 0, tzinfo=UTC), tick=False):
        await _reserve(tenant, "0.60")
    # 29 February 2028 is a day of its own.
    with time_machine.travel(datetime(2028, 2, 28, 23, 30, tzinfo=UTC), tick=False):
        r = await _reserve(tenant, "0.90")
        await budget_settle(reservation=r, actual_cost_usd=Decimal("0.90"), actual_tokens=1)
        key = await sync_to_async(_tenant_key)(tenant, "daily")
        assert key.endswith("d2028-02-29")
    with time_machine.travel(datetime(2028, 2, 29, 23, 0, tzinfo=UTC), tick=False):
        await _reserve(tenant, "0.90")  # 1 March in Berlin


async def test_monthly_budget_resets_at_local_month_start(other_tenant, redis_client):
    # other_tenant is in New York: November ends at 05:00 UTC on 1 December.
    await sync_to_async(make_budget)(other_tenant, limit_usd="1.00")
    with time_machine.travel(datetime(2026, 12, 1, 4, 59, tzinfo=UTC), tick=False):
        r = await _reserve(other_tenant, "1.00")
        await budget_settle(reservation=r, actual_cost_usd=Decimal("1.00"), actual_tokens=1)
        with pytest.raises(BudgetExceeded, match="monthly budget for tenant 'globex'"):
            await _reserve(other_tenant, "0.01")
    with time_machine.travel(datetime(2026, 12, 1, 5, 0, tzinfo=UTC), tick=False):
        await _reserve(other_tenant, "1.00")


async def test_redis_down_falls_back_to_the_database(tenant, redis_client, settings):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    await sync_to_async(make_event)(tenant, at=datetime.now(UTC), cost="0.70")
    settings.REDIS_URL = "redis://127.0.0.1:1/5"  # nothing listens there (a new connection)
    held = await _reserve(tenant, "0.20")
    assert held.backend == "db"
    assert await sync_to_async(BudgetHold.objects.count)() == 1
    with pytest.raises(BudgetExceeded):
        await _reserve(tenant, "0.20")  # 0.70 spent + 0.20 held + 0.20 > 1.00
    await budget_settle(reservation=held, actual_cost_usd=Decimal("0.05"), actual_tokens=1)
    assert await sync_to_async(BudgetHold.objects.count)() == 0
    assert await budget_used_pct(tenant_id=tenant.pk, config_id=None) == Decimal("75.00")


async def test_rebuild_raises_a_counter_that_is_behind(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    await _reserve(tenant, "0.01")
    key = await sync_to_async(_tenant_key)(tenant)
    await sync_to_async(make_event)(tenant, at=datetime.now(UTC), cost="0.25")
    assert _counter(redis_client, key)["sm"] == 0  # the event bypassed the counter
    await sync_to_async(counters_rebuild)()
    assert _counter(redis_client, key)["sm"] == 250_000
    redis_client.hset(key, "sm", 900_000)  # ahead (e.g. events still buffered): kept
    await sync_to_async(counters_rebuild)()
    assert _counter(redis_client, key)["sm"] == 900_000


async def test_budget_changes_apply_without_a_restart(tenant, redis_client):
    budget = await sync_to_async(make_budget)(tenant, limit_usd="0.10")
    with pytest.raises(BudgetExceeded):
        await _reserve(tenant, "0.50")
    budget.limit_usd = Decimal("5")
    await sync_to_async(budget.save)()  # invalidates this process's cache
    await _reserve(tenant, "0.50")


def test_sync_used_pct_reads_the_same_counters(tenant, redis_client):
    from billing.services.budgets import budget_used_pct_sync

    config = config_create(tenant, name="plan", validate=False)
    make_budget(tenant, limit_usd="2.00")
    make_budget(tenant, scope="config", config=config, period="daily", limit_usd="0.50")
    make_event(tenant, at=datetime.now(UTC), cost="0.40", config=config)
    assert budget_used_pct_sync(tenant_id=tenant.pk, config_id=None) == Decimal("20.00")
    assert budget_used_pct_sync(tenant_id=tenant.pk, config_id=config.pk) == Decimal("80.00")


async def test_a_counter_expires_after_its_period_but_never_at_once(tenant, redis_client):
    await sync_to_async(make_budget)(tenant, period="daily", limit_usd="1.00")
    await _reserve(tenant, "0.10")
    budgets = await sync_to_async(tenant_budgets)(tenant_id=tenant.pk)
    [plan] = counter_plans(budgets=budgets, api_key_id=None, config_id=None)
    assert redis_client.expiretime(plan.key) == plan.expire_at  # the period's end + 3 days
    # A gateway clock far behind Redis's (here: a period that ended weeks ago by Redis's clock)
    # still gets a counter that lives a day, not one that is gone before its reserve runs.
    past = datetime.now(UTC) - timedelta(days=30)
    with time_machine.travel(past, tick=False):
        held = await _reserve(tenant, "0.10")
        [old] = counter_plans(budgets=budgets, api_key_id=None, config_id=None, at=past)
    assert held.backend == "redis"
    real_now = int(redis_client.time()[0])
    assert real_now + 86400 - 5 <= redis_client.expiretime(old.key) <= real_now + 86400


async def test_a_rehold_that_arrives_after_its_settlement_holds_nothing(tenant, redis_client):
    """Counters seeded anew get this process's open reservations held on them again
    (budget_failover.py). A re-hold issued while its reservation was open can reach Redis after
    the reservation's settlement (a reconnect or a script load reorders the two): it must then
    hold nothing, not the worst case until the reservation's expiry."""
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        reservation = await _reserve(tenant, "0.30")
        redis_client.flushdb()  # Redis lost the hold and the counters
        await budget_settle(
            reservation=reservation, actual_cost_usd=Decimal("0.10"), actual_tokens=1
        )
        await _rehold(get_pipelined_redis(), reservation)  # issued before, arriving now
        key = await sync_to_async(_tenant_key)(tenant)
        counter = _counter(redis_client, key)
        assert (counter["sm"], counter.get("rm", 0)) == (100_000, 0)
        rz = tenant_keys(tenant.pk)[0]
        traveller.shift(timedelta(minutes=1))  # past the settled reservation's tombstone
        await _reserve(tenant, "0.01")
        assert reservation.id.encode() not in redis_client.zrange(rz, 0, -1)
        assert redis_client.zcard(rz) == 1  # the new hold only


async def test_a_redis_hold_of_a_reservation_settled_on_the_database_is_given_back(
    tenant, redis_client
):
    """Database mode began while Redis still held a reservation (held there before the change,
    or again on counters seeded anew just before it): settled on the database counters, its
    Redis hold is given back when Redis returns, not kept until the reservation's expiry."""
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")
    reservation = await _reserve(tenant, "0.30")
    key = await sync_to_async(_tenant_key)(tenant)
    await enter_database_mode()  # as when a Redis command failed
    await budget_settle(reservation=reservation, actual_cost_usd=Decimal("0.10"), actual_tokens=1)
    assert _counter(redis_client, key)["rm"] == 300_000  # Redis was not told
    await _probe(get_pipelined_redis())  # Redis answers again: database mode ends
    assert not in_database_mode()
    counter = _counter(redis_client, key)
    assert (counter["sm"], counter["rm"]) == (100_000, 0)
