"""Budget enforcement on the hot path: reserve before the upstream call, settle after.

Semantics (DESIGN.md "Budgets"):
- budget_reserve() holds the request's worst case (cost and tokens) on every counter that applies
  (tenant, config and key budgets; daily and monthly, in the tenant's time zone) atomically: all
  or none. A strict budget that cannot take it raises BudgetExceeded (402) naming scope and
  period; soft budgets never block but count.
- budget_settle() replaces the hold with the actual cost and tokens; budget_release() gives the
  hold back (timeout, upstream error, client gone). A hold that is neither settled nor released
  expires after RESERVATION_TTL seconds (the process died) and stops counting.
- Counters live in Redis (one Lua script per operation, see counters_redis.py). With no
  REDIS_URL, and whenever Redis is unreachable, the same semantics run on database counters
  under a row lock (counters_db.py): slower, never unlimited.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import redis.exceptions
from asgiref.sync import sync_to_async
from django.conf import settings

from billing.services.budget_specs import cached_tenant_budgets, tenant_budgets
from billing.services.counter_plans import counter_plans, request_plans
from billing.services.counters_db import db_counter_values, db_reserve, db_settle
from billing.services.counters_rebuild import counter_values_sync
from billing.services.counters_redis import (
    RESERVE_LUA,
    SEED_LUA,
    SETTLE_LUA,
    held_amounts,
    new_reservation_id,
    reserve_args,
    seed_args,
    seed_lock_key,
    settle_args,
    tenant_keys,
)
from billing.services.micros import to_micros
from billing.services.spend_truth import plan_truth
from core.errors import BudgetExceeded
from core.redis import get_pipelined_redis
from core.redis_pipelined import LuaScript

if TYPE_CHECKING:
    from billing.services.budget_specs import TenantBudgets
    from billing.services.counter_plans import CounterPlan

logger = logging.getLogger(__name__)

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
SEED_WAIT_SECONDS = 2.0
# Budget-state routing rules see the used percentage at most this old (per process); strict
# limits do not depend on it: budget_reserve() checks them atomically on every request.
USED_PCT_TTL_SECONDS = 1.0
_used_pct: dict[tuple[int, int | None], tuple[float, Decimal | None]] = {}


def reservation_ttl() -> float:
    """How long a hold outlives its request: the request deadline plus a margin."""
    return float(getattr(settings, "TOLLGATE_REQUEST_DEADLINE_SECONDS", 120)) + 60.0


@dataclass
class Reservation:
    """What a request holds against its budgets until it settles or releases."""

    tenant_id: int
    amount_usd: Decimal = Decimal(0)
    tokens: int = 0
    holds: list = field(default_factory=list)  # counter keys held
    held: list = field(default_factory=list)  # (micros, tokens) held on each counter (Redis)
    id: str = ""
    backend: str = ""  # "redis", "db" or "" (nothing held)
    micros: int = 0
    done: bool = False


_RESERVE = LuaScript(RESERVE_LUA)
_SETTLE = LuaScript(SETTLE_LUA)
_SEED = LuaScript(SEED_LUA)


async def _budgets(tenant_id: int) -> TenantBudgets:
    cached = cached_tenant_budgets(tenant_id=tenant_id)
    if cached is not None:
        return cached
    return await sync_to_async(tenant_budgets)(tenant_id=tenant_id)


def _exceeded(plan: CounterPlan, what: str) -> BudgetExceeded:
    limit = "token limit" if what == "tokens" else "spend limit"
    return BudgetExceeded(f"{plan.period} budget for {plan.label} exceeded ({limit}).")


async def _seed_redis(client, plans: list[CounterPlan], tz, mode: str = "seed") -> int:
    """Seed counters that Redis does not have from the database. One process computes (SET NX
    lock); the others wait for its marker; HSETNX makes the write one-winner regardless."""
    tenant_id = plans[0].tenant_id
    lock = seed_lock_key(tenant_id)
    got_lock = await client.execute("SET", lock, "1", "NX", "PX", 5000)
    if not got_lock:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SEED_WAIT_SECONDS
        while loop.time() < deadline:
            await asyncio.sleep(0.005)
            if await _all_seeded(client, plans):
                return 0
    try:
        values = await sync_to_async(_truths)(plans, tz)
        keys, args = seed_args(plans=plans, values=values, mode=mode)
        return int(await client.run_script(_SEED, keys=keys, args=args))
    finally:
        if got_lock:
            await client.execute("DEL", lock)


async def _all_seeded(client, plans) -> bool:
    return all(await client.execute_many([("HEXISTS", plan.key, "seeded") for plan in plans]))


def _truths(plans, tz) -> list[tuple[int, int]]:
    return [plan_truth(plan=plan, tz=tz) for plan in plans]


async def budget_reserve(
    *,
    tenant_id: int,
    api_key_id: int | None,
    config_id: int | None,
    worst_case_cost_usd: Decimal,
    worst_case_tokens: int,
) -> Reservation:
    """Reserve the worst case against every budget that applies; raise BudgetExceeded (402)
    naming scope and period when a strict budget cannot take it."""
    budgets = await _budgets(tenant_id)
    reservation = Reservation(
        tenant_id=tenant_id,
        amount_usd=Decimal(worst_case_cost_usd or 0),
        tokens=int(worst_case_tokens or 0),
    )
    if not budgets.budgets:
        return reservation
    plans = request_plans(budgets=budgets, api_key_id=api_key_id, config_id=config_id)
    if not plans:
        return reservation
    reservation.micros = to_micros(reservation.amount_usd)
    reservation.id = new_reservation_id()
    reservation.holds = [plan.key for plan in plans]
    client = get_pipelined_redis()
    if client is not None:
        try:
            await _reserve_redis(client, plans, budgets.tz, reservation)
            reservation.backend = "redis"
            return reservation
        except REDIS_DOWN:
            logger.warning("Redis unreachable: budget check falls back to the database")
    await _reserve_db(plans, budgets.tz, reservation)
    reservation.backend = "db"
    return reservation


async def _reserve_redis(client, plans, tz, reservation: Reservation) -> None:
    reservation.held = held_amounts(
        plans=plans, micros=reservation.micros, tokens=reservation.tokens
    )
    for _attempt in range(3):
        keys, args = reserve_args(
            plans=plans,
            reservation_id=reservation.id,
            micros=reservation.micros,
            tokens=reservation.tokens,
            held=reservation.held,
            ttl_seconds=reservation_ttl(),
        )
        result = await client.run_script(_RESERVE, keys=keys, args=args)
        status = result[0].decode() if isinstance(result[0], bytes) else result[0]
        if status == "ok":
            return
        if status == "over":
            index = int(result[1])
            what = result[2].decode() if isinstance(result[2], bytes) else result[2]
            raise _exceeded(plans[index], what)
        missing = json.loads(result[1])
        await _seed_redis(client, [plans[i] for i in missing], tz)
    raise redis.exceptions.ConnectionError("budget counters could not be seeded")


async def _reserve_db(plans, tz, reservation: Reservation) -> None:
    outcome = await sync_to_async(db_reserve)(
        plans=plans,
        tz=tz,
        reservation_id=reservation.id,
        micros=reservation.micros,
        tokens=reservation.tokens,
        ttl_seconds=reservation_ttl(),
    )
    if not outcome.ok:
        raise _exceeded(plans[outcome.over_index], outcome.over_what)


async def budget_settle(
    *, reservation: Reservation, actual_cost_usd: Decimal, actual_tokens: int
) -> None:
    """Replace the reservation with the actual cost (may be lower or higher)."""
    await _finish(reservation, micros=to_micros(actual_cost_usd), tokens=int(actual_tokens or 0))


async def budget_release(*, reservation: Reservation) -> None:
    """Give the whole reservation back (timeout, upstream error, client gone before billing)."""
    await _finish(reservation, micros=0, tokens=0)


async def _finish(reservation: Reservation, *, micros: int, tokens: int) -> None:
    if reservation.done or not reservation.backend:
        return
    reservation.done = True
    if reservation.backend == "redis":
        rz, rv = tenant_keys(reservation.tenant_id)
        try:
            await get_pipelined_redis().run_script(
                _SETTLE,
                keys=[rz, rv, *reservation.holds],
                args=settle_args(
                    reservation_id=reservation.id,
                    micros=micros,
                    tokens=tokens,
                    held=reservation.held,
                ),
            )
            return
        except REDIS_DOWN:
            # The hold expires with Redis; the database counters catch up from the events.
            logger.warning("Redis unreachable: settlement left to the database counters")
            return
    await sync_to_async(db_settle)(
        keys=reservation.holds, reservation_id=reservation.id, micros=micros, tokens=tokens
    )


async def budget_used_pct(*, tenant_id: int, config_id: int | None) -> Decimal | None:
    """Highest used percentage over the tenant's (and config's) budgets, or None when none.
    Read from the counters at most once per USED_PCT_TTL_SECONDS per process."""
    ident = (tenant_id, config_id)
    cached = _used_pct.get(ident)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    budgets = await _budgets(tenant_id)
    plans = _pct_plans(budgets, config_id)
    pct = None
    if plans:
        pct = _highest_pct(budgets, plans, await counter_values(plans=plans, tz=budgets.tz))
    if len(_used_pct) > 10_000:
        _used_pct.clear()
    _used_pct[ident] = (now + USED_PCT_TTL_SECONDS, pct)
    return pct


def budget_used_pct_clear_local() -> None:
    _used_pct.clear()


def budget_used_pct_sync(*, tenant_id: int, config_id: int | None) -> Decimal | None:
    """budget_used_pct() for sync callers (route preview, admin, Celery): the same counters,
    through the sync Redis client (no event loop, no per-loop async client)."""
    budgets = tenant_budgets(tenant_id=tenant_id)
    plans = _pct_plans(budgets, config_id)
    if not plans:
        return None
    return _highest_pct(budgets, plans, counter_values_sync(plans=plans, tz=budgets.tz))


def _pct_plans(budgets: TenantBudgets, config_id: int | None):
    if not budgets.budgets:
        return []
    return counter_plans(
        budgets=budgets, api_key_id=None, config_id=config_id, scopes=("tenant", "config")
    )


def _highest_pct(budgets, plans, values) -> Decimal | None:
    by_scope = {
        (plan.scope, plan.scope_id, plan.period): value
        for plan, value in zip(plans, values, strict=True)
    }
    best: Decimal | None = None
    for spec in budgets.budgets:
        value = by_scope.get((spec.scope, spec.scope_id, spec.period))
        if value is None:
            continue
        micros, tokens = value
        for used, limit in ((micros, spec.limit_micros), (tokens, spec.limit_tokens)):
            if limit is None:
                continue
            pct = Decimal(100) if limit == 0 else Decimal(used * 100) / Decimal(limit)
            best = pct if best is None else max(best, pct)
    return None if best is None else best.quantize(Decimal("0.01"))


async def counter_values(*, plans, tz) -> list[tuple[int, int]]:
    """Settled (micros, tokens) per counter, seeding missing Redis counters first."""
    client = get_pipelined_redis()
    if client is not None:
        try:
            return await _redis_values(client, plans, tz)
        except REDIS_DOWN:
            logger.warning("Redis unreachable: budget usage read from the database")
    return await sync_to_async(db_counter_values)(plans=plans, tz=tz)


async def _redis_values(client, plans, tz) -> list[tuple[int, int]]:
    for _attempt in range(2):
        rows = await client.execute_many(
            [("HMGET", plan.key, "seeded", "sm", "st") for plan in plans]
        )
        missing = [plan for plan, row in zip(plans, rows, strict=True) if row[0] is None]
        if not missing:
            return [(int(row[1] or 0), int(row[2] or 0)) for row in rows]
        await _seed_redis(client, missing, tz)
    return [(int(row[1] or 0), int(row[2] or 0)) for row in rows]
