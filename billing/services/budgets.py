"""Budget enforcement on the hot path: reserve before the upstream call, settle after.

Semantics (the contract's budget rules, README "Budgets, rollups and billing"):
- budget_reserve() holds the request's worst case (cost and tokens) on every counter that applies
  (tenant, config, key and end-user budgets; daily and monthly, in the tenant's time zone)
  atomically: all or none. A user budget counts each end user on a counter of its own. A
  strict budget that cannot take it raises BudgetExceeded (402) naming scope and period; soft
  budgets never block but count.
- budget_settle() replaces the hold with the actual cost and tokens; budget_release() gives the
  hold back (timeout, upstream error, client gone). A hold that is neither settled nor released
  expires after RESERVATION_TTL seconds (the process died) and stops counting.
- Counters live in Redis (one Lua script per operation, see counters_redis.py). With no
  REDIS_URL, and whenever Redis is unreachable, the same semantics run on database counters
  under a row lock (counters_db.py): slower, never unlimited. What happens to the requests in
  flight when Redis goes, comes back or loses its counters is budget_failover.py.
- Budgets that cannot be checked at all (never loaded, the database down; Redis and the
  database down) block the request with 503 `service_unavailable`.
"""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING

import redis.exceptions
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError

from billing.services.budget_failover import (
    REDIS_DOWN,
    SETTLE_SCRIPT,
    counters_seed,
    enter_database_mode,
    failover_lock,
    failover_reset_local,
    in_database_mode,
    reservation_closed,
    reservation_opened,
    reservation_settled_on_database,
    still_database_mode,
)
from billing.services.budget_specs import cached_tenant_budgets, tenant_budgets
from billing.services.counter_plans import counter_plans, request_plans
from billing.services.counters_db import (
    db_counter_values,
    db_holds_drop,
    db_reserve,
    db_settle,
)
from billing.services.counters_rebuild import counter_values_sync
from billing.services.counters_redis import (
    RESERVE_LUA,
    held_amounts,
    new_reservation_id,
    reserve_args,
    settle_args,
    tenant_keys,
)
from billing.services.micros import to_micros
from billing.services.reservation import Reservation
from core.errors import BudgetExceeded, ServiceUnavailable
from core.redis import get_pipelined_redis
from core.redis_pipelined import LuaScript, PipelinedRedis

if TYPE_CHECKING:
    from billing.services.budget_specs import TenantBudgets
    from billing.services.counter_plans import CounterPlan

logger = logging.getLogger(__name__)

# Budget-state routing rules see the used percentage at most this old (per process); strict
# limits do not depend on it: budget_reserve() checks them atomically on every request.
USED_PCT_TTL_SECONDS = 1.0
_used_pct: dict[tuple[int, int | None], tuple[float, Decimal | None]] = {}


def reservation_ttl() -> float:
    """How long a hold outlives its request: the request deadline plus a margin."""
    return float(settings.TOLLGATE_REQUEST_DEADLINE_SECONDS) + 60.0


_RESERVE = LuaScript(RESERVE_LUA)


async def _budgets(tenant_id: int) -> TenantBudgets:
    cached = cached_tenant_budgets(tenant_id=tenant_id)
    if cached is not None:
        return cached
    try:
        return await sync_to_async(tenant_budgets)(tenant_id=tenant_id)
    except DatabaseError as exc:  # never loaded, and the database is down: cannot check
        raise _unavailable() from exc


def _unavailable() -> ServiceUnavailable:
    """Budgets that cannot be checked block the request (503): never unlimited spend."""
    logger.warning("budget check impossible: the budget counters are unreachable")
    return ServiceUnavailable("Budgets cannot be checked right now; retry shortly.")


def _exceeded(plan: CounterPlan, what: str) -> BudgetExceeded:
    limit = "token limit" if what == "tokens" else "spend limit"
    return BudgetExceeded(f"{plan.period} budget for {plan.label} exceeded ({limit}).")


async def budget_reserve(
    *,
    tenant_id: int,
    api_key_id: int | None,
    config_id: int | None,
    worst_case_cost_usd: Decimal,
    worst_case_tokens: int,
    end_user: str | None = None,
) -> Reservation:
    """Reserve the worst case against every budget that applies; raise BudgetExceeded (402)
    naming scope and period when a strict budget cannot take it. `end_user`: the request's
    validated end user id (routing_hints.end_user_from), for user budgets."""
    budgets = await _budgets(tenant_id)
    reservation = Reservation(
        tenant_id=tenant_id,
        amount_usd=Decimal(worst_case_cost_usd or 0),
        tokens=int(worst_case_tokens or 0),
    )
    if not budgets.budgets:
        return reservation
    plans = request_plans(
        budgets=budgets, api_key_id=api_key_id, config_id=config_id, end_user=end_user
    )
    if not plans:
        return reservation
    reservation.micros = to_micros(reservation.amount_usd)
    reservation.id = new_reservation_id()
    reservation.holds = [plan.key for plan in plans]
    reservation.plans, reservation.tz = plans, budgets.tz
    reservation.held = held_amounts(
        plans=plans, micros=reservation.micros, tokens=reservation.tokens
    )
    reservation.expires_ms = int((time.time() + reservation_ttl()) * 1000)
    client = get_pipelined_redis()
    if client is None:
        await _reserve_db(plans, budgets.tz, reservation)
        reservation.backend = "db"
        return reservation
    for _attempt in range(3):  # Redis, or the database while Redis is away (budget_failover)
        if not in_database_mode():
            try:
                await _reserve_redis(client, plans, budgets.tz, reservation)
                reservation.backend = "redis"
                reservation_opened(reservation)
                if in_database_mode():  # entered meanwhile: held on the database as well
                    await enter_database_mode()
                return reservation
            except REDIS_DOWN:
                await enter_database_mode()
        async with failover_lock():
            if await still_database_mode(client):
                await _reserve_db(plans, budgets.tz, reservation)
                reservation.backend = "db"
                reservation_opened(reservation)  # moved back onto Redis when it returns
                return reservation
    raise _unavailable()


async def _reserve_redis(client, plans, tz, reservation: Reservation) -> None:
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
        await counters_seed(client, [plans[i] for i in missing], tz)
    raise redis.exceptions.ConnectionError("budget counters could not be seeded")


async def _reserve_db(plans, tz, reservation: Reservation) -> None:
    try:
        outcome = await sync_to_async(db_reserve)(
            plans=plans,
            tz=tz,
            reservation_id=reservation.id,
            micros=reservation.micros,
            tokens=reservation.tokens,
            ttl_seconds=reservation_ttl(),
        )
    except DatabaseError as exc:  # Redis and the database both down
        raise _unavailable() from exc
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
    """Settle on the counters that hold the reservation. One held on the database stays
    open until settled, so that a return of Redis meanwhile moves it there (budget_failover)."""
    if reservation.done or not reservation.backend:
        return
    reservation.done = True

    async def settle_db() -> None:
        await sync_to_async(db_settle)(
            keys=reservation.holds, reservation_id=reservation.id, micros=micros, tokens=tokens
        )

    client = get_pipelined_redis()
    if client is None:
        await settle_db()
        return
    for _attempt in range(3):
        if reservation.backend == "redis" and not in_database_mode():
            reservation_closed(reservation)
            try:
                await _settle_redis(client, reservation, micros=micros, tokens=tokens)
                if not in_database_mode():
                    return
                # Database mode began meanwhile: its counters must count this spend too (Redis
                # counters are raised to them, not added to, when Redis returns).
            except REDIS_DOWN:
                await enter_database_mode()
            reservation_opened(reservation)
        reservation.backend = "db"
        async with failover_lock():
            if in_database_mode():
                await settle_db()
                reservation_closed(reservation)
                reservation_settled_on_database(reservation)
                return
        # Redis came back while this waited, and _leave moved it onto Redis (it was open).
        if reservation.backend == "db":
            await sync_to_async(db_holds_drop)(reservation_ids=[reservation.id])
            reservation.backend = "redis"
    reservation_closed(reservation)
    logger.warning("budget settlement not counted: Redis keeps coming and going")


async def _settle_redis(
    client: PipelinedRedis, reservation: Reservation, *, micros: int, tokens: int
) -> None:
    """SETTLE_LUA; counters it found unseeded (Redis lost them) are seeded, then given the
    spend (the record of this request is made after its settlement: the truth lacks it)."""
    rz, rv = tenant_keys(reservation.tenant_id)
    keys, reservation_id = reservation.holds, reservation.id
    for _attempt in range(2):
        result = await client.run_script(
            SETTLE_SCRIPT,
            keys=[rz, rv, *keys],
            args=settle_args(reservation_id=reservation_id, micros=micros, tokens=tokens),
            lazy=True,  # after the answer: it may wait ~2 ms to share the next request's write
        )
        missing = json.loads(result[1])
        if not missing or not (micros or tokens):
            return
        plans = [plan for plan in reservation.plans if plan.key in {keys[i] for i in missing}]
        await counters_seed(client, plans, reservation.tz)
        keys, reservation_id = [plan.key for plan in plans], new_reservation_id()
    logger.warning("budget settlement not counted on Redis: its counters could not be seeded")


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
    """Forget this process's short-lived budget state: used percentages, and the failover
    state (budget_failover.py; tests start each on their own services)."""
    _used_pct.clear()
    failover_reset_local()


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
        await counters_seed(client, missing, tz)
    return [(int(row[1] or 0), int(row[2] or 0)) for row in rows]
