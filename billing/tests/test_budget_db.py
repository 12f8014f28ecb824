"""Database counters: the embedded default (no Redis) and the fallback when Redis is down."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from asgiref.sync import async_to_sync, sync_to_async
from django.db import close_old_connections, connection

from billing.models import BudgetCounter, BudgetHold
from billing.services.budgets import (
    budget_release,
    budget_reserve,
    budget_settle,
    budget_used_pct,
)
from billing.tests.test_budget_support import make_budget, make_event
from core.errors import BudgetExceeded

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_redis(settings):
    settings.REDIS_URL = ""


def _reserve_sync(tenant_id: int, cost: str):
    try:
        return async_to_sync(budget_reserve)(
            tenant_id=tenant_id,
            api_key_id=None,
            config_id=None,
            worst_case_cost_usd=Decimal(cost),
            worst_case_tokens=10,
        )
    except BudgetExceeded as exc:
        return exc
    finally:
        close_old_connections()


def test_64_concurrent_requests_never_overspend(tenant):
    make_budget(tenant, limit_usd="1.00")
    make_event(tenant, at=datetime.now(UTC), cost="0.30")
    if connection.vendor == "postgresql":
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda _: _reserve_sync(tenant.pk, "0.06"), range(64)))
    else:  # SQLite serialises writers; run the same 64 requests from one event loop

        async def run():
            return await asyncio.gather(
                *(
                    budget_reserve(
                        tenant_id=tenant.pk,
                        api_key_id=None,
                        config_id=None,
                        worst_case_cost_usd=Decimal("0.06"),
                        worst_case_tokens=10,
                    )
                    for _ in range(64)
                ),
                return_exceptions=True,
            )

        results = async_to_sync(run)()
    held = [r for r in results if not isinstance(r, Exception)]
    assert len(held) == 11  # floor(0.70 / 0.06)
    assert all(isinstance(r, BudgetExceeded) for r in results if r not in held)
    total_held = sum(h.micros for h in BudgetHold.objects.all())
    assert total_held == 660_000
    for reservation in held:
        async_to_sync(budget_settle)(
            reservation=reservation, actual_cost_usd=Decimal("0.06"), actual_tokens=10
        )
    counter = BudgetCounter.objects.get()
    assert counter.spent_micros == 300_000 + 660_000 <= 1_000_000
    assert not BudgetHold.objects.exists()


async def test_release_and_expiry(tenant):
    await sync_to_async(make_budget)(tenant, limit_usd="1.00")

    async def reserve(cost):
        return await budget_reserve(
            tenant_id=tenant.pk,
            api_key_id=None,
            config_id=None,
            worst_case_cost_usd=Decimal(cost),
            worst_case_tokens=0,
        )

    first = await reserve("0.70")
    assert first.backend == "db"
    with pytest.raises(BudgetExceeded, match="monthly budget for tenant 'acme' exceeded"):
        await reserve("0.70")
    await budget_release(reservation=first)
    assert not await sync_to_async(BudgetHold.objects.exists)()
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        await reserve("0.70")  # the process "dies" holding it
        traveller.shift(timedelta(minutes=10))
        await reserve("0.70")  # the dead hold no longer counts


async def test_used_pct_reads_the_database_counters(tenant):
    await sync_to_async(make_budget)(tenant, period="daily", limit_usd="2.00")
    await sync_to_async(make_event)(tenant, at=datetime.now(UTC), cost="0.50")
    assert await budget_used_pct(tenant_id=tenant.pk, config_id=None) == Decimal("25.00")


async def _reserve_at(tenant, when: datetime, cost: str, settle: str | None = None):
    with time_machine.travel(when, tick=False):
        reservation = await budget_reserve(
            tenant_id=tenant.pk,
            api_key_id=None,
            config_id=None,
            worst_case_cost_usd=Decimal(cost),
            worst_case_tokens=0,
        )
        if settle is not None:
            await budget_settle(
                reservation=reservation, actual_cost_usd=Decimal(settle), actual_tokens=0
            )
    return reservation


async def test_periods_follow_local_midnight_dst_and_29_february(tenant):
    await sync_to_async(make_budget)(tenant, period="daily", limit_usd="1.00")
    # 23:59 and 00:00:01 in Berlin on 21/22 November.
    await _reserve_at(tenant, datetime(2026, 11, 21, 22, 59, tzinfo=UTC), "0.9", settle="0.9")
    with pytest.raises(BudgetExceeded, match="daily budget for tenant 'acme'"):
        await _reserve_at(tenant, datetime(2026, 11, 21, 22, 59, 30, tzinfo=UTC), "0.2")
    await _reserve_at(tenant, datetime(2026, 11, 21, 23, 0, 1, tzinfo=UTC), "0.9")
    # The 25-hour day of 25 October: 00:30 CEST and 23:30 CET share one period.
    await _reserve_at(tenant, datetime(2026, 10, 24, 22, 30, tzinfo=UTC), "0.6", settle="0.6")
    with pytest.raises(BudgetExceeded):
        await _reserve_at(tenant, datetime(2026, 10, 25, 22, 30, tzinfo=UTC), "0.6")
    await _reserve_at(tenant, datetime(2026, 10, 25, 23, 0, tzinfo=UTC), "0.6")
    # 29 February 2028 is its own day.
    await _reserve_at(tenant, datetime(2028, 2, 29, 0, 0, tzinfo=UTC), "0.9", settle="0.9")
    with pytest.raises(BudgetExceeded):
        await _reserve_at(tenant, datetime(2028, 2, 29, 22, 0, tzinfo=UTC), "0.2")
    await _reserve_at(tenant, datetime(2028, 2, 29, 23, 0, tzinfo=UTC), "0.9")


async def test_monthly_period_turns_at_the_local_month_start(other_tenant):
    await sync_to_async(make_budget)(other_tenant, limit_usd="1.00")  # New York
    await _reserve_at(other_tenant, datetime(2026, 12, 1, 4, 59, tzinfo=UTC), "1.0", settle="1.0")
    with pytest.raises(BudgetExceeded, match="monthly budget for tenant 'globex'"):
        await _reserve_at(other_tenant, datetime(2026, 12, 1, 4, 59, 30, tzinfo=UTC), "0.01")
    await _reserve_at(other_tenant, datetime(2026, 12, 1, 5, 0, tzinfo=UTC), "1.0")
