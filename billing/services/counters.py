"""Budget counters: periods, budget lookup cache, database truth, Redis (Lua) and database paths.

Design (see also budgets.py):
- One counter per (tenant, scope, scope id, period key), in integer micro-dollars and tokens. A
  counter is shared by every budget on that scope and period; the strictest strict limit applies.
- Redis layout, all keys of a tenant in one hash slot (`{t:ID}`):
  `tg:bud:{t:ID}:<scope>:<id>:<period key>` hash: sm/st (settled micros/tokens), rm/rt (held by
  open reservations), seeded (marker: set once per counter by the one seeding writer);
  `...:rz` sorted set of open reservation ids by expiry, `...:rv` hash id -> its holds (JSON).
  Expiry: each reserve first gives back every reservation whose expiry has passed (its process
  died or forgot to settle), inside the same Lua script, so held sums never leak. A counter
  itself expires 3 days after its period ends, and at least a day after it is seeded by Redis's
  clock (set once, when it is seeded).
- Micro-dollars round up (ceil) for reservations and settlements: a counter can be ahead of the
  database by under 1 micro-dollar per request, never behind, so strict limits hold.
- The database is the truth (rollups through the last final day + events since). A counter that
  does not exist in Redis is seeded from it once (SET NX lock, HSETNX marker: one writer wins);
  the periodic rebuild raises a counter that is behind the truth and never lowers one that is
  ahead (it may hold settlements whose events are still in the ingestion buffer).
- Database counters (embedded default, and fallback when Redis is unreachable): a BudgetCounter
  row per counter, locked (select_for_update; on SQLite a first write takes the database lock)
  around check-and-hold; holds are rows that stop counting when they expire.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import redis.exceptions
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from billing.models import (
    NOT_BILLED_TOKEN_STATUSES,
    Budget,
    BudgetCounter,
    BudgetHold,
    DailyRollup,
    RollupState,
    UsageEvent,
)
from core.calendar import PeriodWindow, local_midnight, period_window
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MICROS = Decimal(1_000_000)
CACHE_SECONDS = 5.0
DB_RESEED_SECONDS = 60
COUNTER_GRACE = timedelta(days=3)


def to_micros(amount: Decimal | int | None) -> int:
    """Dollars to integer micro-dollars, rounded up (never under-count spend)."""
    if not amount:
        return 0
    return math.ceil(Decimal(amount) * MICROS)


def limit_micros(amount: Decimal) -> int:
    return math.floor(Decimal(amount) * MICROS)


# --- Budget lookup (in-process cache) -------------------------------------------------------


@dataclass(frozen=True)
class BudgetSpec:
    id: int
    scope: str
    scope_id: int  # 0 for the tenant scope
    period: str
    label: str  # "tenant 'acme'", "config 'plan'", "key 'ci'"
    strict: bool
    limit_micros: int | None
    limit_tokens: int | None
    thresholds: tuple[int, ...]


@dataclass(frozen=True)
class TenantBudgets:
    tenant_id: int
    tz: ZoneInfo
    budgets: tuple[BudgetSpec, ...]


_cache: dict[int, tuple[float, TenantBudgets]] = {}


def budget_cache_invalidate(*, tenant_id: int | None = None) -> None:
    """Drop cached budgets (called on Budget/Tenant saves in this process; other processes see
    the change within CACHE_SECONDS)."""
    if tenant_id is None:
        _cache.clear()
    else:
        _cache.pop(tenant_id, None)


def _budget_changed(sender, instance: Budget, **kwargs) -> None:
    budget_cache_invalidate(tenant_id=instance.tenant_id)


def _tenant_changed(sender, instance, **kwargs) -> None:
    budget_cache_invalidate(tenant_id=instance.pk)


def budget_cache_connect_signals() -> None:
    """Budget and tenant saves drop this process's cached budgets (BillingConfig.ready)."""
    post_save.connect(_budget_changed, sender=Budget, dispatch_uid="tollgate-budget-saved")
    post_delete.connect(_budget_changed, sender=Budget, dispatch_uid="tollgate-budget-deleted")
    post_save.connect(_tenant_changed, sender=Tenant, dispatch_uid="tollgate-budget-tenant")


def _load_budgets(tenant_id: int) -> TenantBudgets:
    tenant = Tenant.objects.only("timezone", "slug").get(pk=tenant_id)
    specs = []
    rows = Budget.objects.filter(tenant_id=tenant_id, is_active=True).select_related(
        "config", "api_key"
    )
    for budget in rows:
        if budget.scope == Budget.Scope.CONFIG:
            scope_id, label = budget.config_id, f"config '{budget.config.name}'"
        elif budget.scope == Budget.Scope.KEY:
            scope_id, label = budget.api_key_id, f"key '{budget.api_key.name}'"
        else:
            scope_id, label = 0, f"tenant '{tenant.slug}'"
        specs.append(
            BudgetSpec(
                id=budget.pk,
                scope=budget.scope,
                scope_id=scope_id or 0,
                period=budget.period,
                label=label,
                strict=budget.mode == Budget.Mode.STRICT,
                limit_micros=None if budget.limit_usd is None else limit_micros(budget.limit_usd),
                limit_tokens=budget.limit_tokens,
                thresholds=tuple(budget.alert_thresholds or ()),
            )
        )
    return TenantBudgets(tenant_id=tenant_id, tz=ZoneInfo(tenant.timezone), budgets=tuple(specs))


def tenant_budgets(*, tenant_id: int) -> TenantBudgets:
    """The tenant's active budgets, from a short-lived in-process cache."""
    now = time.monotonic()
    hit = _cache.get(tenant_id)
    if hit and hit[0] > now:
        return hit[1]
    loaded = _load_budgets(tenant_id)
    _cache[tenant_id] = (now + CACHE_SECONDS, loaded)
    return loaded


def cached_tenant_budgets(*, tenant_id: int) -> TenantBudgets | None:
    hit = _cache.get(tenant_id)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    return None


# --- Counters for one request ---------------------------------------------------------------


@dataclass
class CounterPlan:
    """One counter a request touches, with the strictest strict limits on it."""

    key: str
    tenant_id: int
    scope: str
    scope_id: int
    period: str
    window: PeriodWindow
    limit_micros: int | None = None
    limit_tokens: int | None = None
    label: str = ""

    @property
    def expire_at(self) -> int:
        return int((self.window.end + COUNTER_GRACE).timestamp())


def counter_key(*, tenant_id: int, scope: str, scope_id: int, period: str, window_key: str) -> str:
    return f"tg:bud:{{t:{tenant_id}}}:{scope}:{scope_id}:{period[0]}{window_key}"


def counter_plans(
    *,
    budgets: TenantBudgets,
    api_key_id: int | None,
    config_id: int | None,
    at: datetime | None = None,
    scopes: tuple[str, ...] = ("tenant", "config", "key"),
) -> list[CounterPlan]:
    plans: dict[str, CounterPlan] = {}
    windows: dict[str, PeriodWindow] = {}
    for spec in budgets.budgets:
        if spec.scope not in scopes:
            continue
        if spec.scope == Budget.Scope.CONFIG and spec.scope_id != config_id:
            continue
        if spec.scope == Budget.Scope.KEY and spec.scope_id != api_key_id:
            continue
        window = windows.get(spec.period)
        if window is None:
            window = windows[spec.period] = period_window(period=spec.period, tz=budgets.tz, at=at)
        key = counter_key(
            tenant_id=budgets.tenant_id,
            scope=spec.scope,
            scope_id=spec.scope_id,
            period=spec.period,
            window_key=window.key,
        )
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = CounterPlan(
                key=key,
                tenant_id=budgets.tenant_id,
                scope=spec.scope,
                scope_id=spec.scope_id,
                period=spec.period,
                window=window,
                label=spec.label,
            )
        if spec.strict:
            if spec.limit_micros is not None:
                plan.limit_micros = min(spec.limit_micros, plan.limit_micros or spec.limit_micros)
            if spec.limit_tokens is not None:
                plan.limit_tokens = min(spec.limit_tokens, plan.limit_tokens or spec.limit_tokens)
    return sorted(plans.values(), key=lambda plan: plan.key)


_plan_cache: dict[tuple, tuple[TenantBudgets, float, float, list[CounterPlan]]] = {}


def request_plans(
    *, budgets: TenantBudgets, api_key_id: int | None, config_id: int | None
) -> list[CounterPlan]:
    """counter_plans() for the current instant, cached until the earliest period ends (the
    hot path computes local periods once per period, not once per request)."""
    cache_key = (budgets.tenant_id, api_key_id, config_id)
    now = time.time()
    hit = _plan_cache.get(cache_key)
    if hit and hit[0] is budgets and hit[1] <= now < hit[2]:
        return hit[3]
    plans = counter_plans(budgets=budgets, api_key_id=api_key_id, config_id=config_id)
    if plans:
        valid_from = max(plan.window.start.timestamp() for plan in plans)
        valid_to = min(plan.window.end.timestamp() for plan in plans)
        if len(_plan_cache) > 10_000:
            _plan_cache.clear()
        _plan_cache[cache_key] = (budgets, valid_from, valid_to, plans)
    return plans


# --- Truth from the database ----------------------------------------------------------------


def _scope_filter(scope: str, scope_id: int, *, rollup: bool) -> Q:
    if scope == Budget.Scope.CONFIG:
        return Q(config_ref=scope_id) if rollup else Q(config_id=scope_id)
    if scope == Budget.Scope.KEY:
        return Q(api_key_ref=scope_id) if rollup else Q(api_key_id=scope_id)
    return Q()


def spend_truth(
    *, tenant_id: int, scope: str, scope_id: int, window: PeriodWindow, tz: ZoneInfo
) -> tuple[Decimal, int]:
    """Spend and billed tokens of a scope in a period: final daily rollups, then raw events
    from the first day that is not final yet."""
    state = RollupState.objects.filter(tenant_id=tenant_id).first()
    rolled_through = state.rolled_through if state else None
    cost, tokens = Decimal(0), 0
    events_from_day = window.start_day
    if rolled_through and rolled_through >= window.start_day:
        last = min(rolled_through, window.end_day - timedelta(days=1))
        agg = DailyRollup.objects.filter(
            _scope_filter(scope, scope_id, rollup=True),
            tenant_id=tenant_id,
            day__gte=window.start_day,
            day__lte=last,
        ).aggregate(cost=Sum("cost_usd"), tokens=Sum("billed_tokens"))
        cost += agg["cost"] or 0
        tokens += agg["tokens"] or 0
        events_from_day = last + timedelta(days=1)
    if events_from_day < window.end_day:
        events = UsageEvent.objects.filter(
            _scope_filter(scope, scope_id, rollup=False),
            tenant_id=tenant_id,
            created_at__gte=local_midnight(day=events_from_day, tz=tz),
            created_at__lt=window.end,
        )
        cost += events.aggregate(cost=Sum("cost_usd"))["cost"] or 0
        tokens += (
            events.exclude(status__in=NOT_BILLED_TOKEN_STATUSES).aggregate(
                tokens=Sum(F("input_tokens") + F("output_tokens"))
            )["tokens"]
            or 0
        )
    return cost, int(tokens)


def plan_truth(*, plan: CounterPlan, tz: ZoneInfo) -> tuple[int, int]:
    cost, tokens = spend_truth(
        tenant_id=plan.tenant_id,
        scope=plan.scope,
        scope_id=plan.scope_id,
        window=plan.window,
        tz=tz,
    )
    return to_micros(cost), tokens


# --- Redis path -----------------------------------------------------------------------------

_GIVE_BACK_EXPIRED = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
for _, rid in ipairs(expired) do
  local held = redis.call('HGET', KEYS[2], rid)
  if held then
    for _, h in ipairs(cjson.decode(held)) do
      if redis.call('EXISTS', h[1]) == 1 then
        redis.call('HINCRBY', h[1], 'rm', 0 - h[2])
        redis.call('HINCRBY', h[1], 'rt', 0 - h[3])
      end
    end
    redis.call('HDEL', KEYS[2], rid)
  end
  redis.call('ZREM', KEYS[1], rid)
end
"""

# KEYS: rz, rv, counters...  ARGV: now_ms, expiry_ms, reservation id, holds JSON, micros,
# tokens, then per counter: limit micros (-1: none), limit tokens (-1: none). A counter holds only
# what it limits (rm without a spend limit, rt without a token limit, would never be read).
# A counter's expiry is set once, when it is seeded.
RESERVE_LUA = (
    _GIVE_BACK_EXPIRED
    + """
local n = #KEYS - 2
local m, t = tonumber(ARGV[5]), tonumber(ARGV[6])
local state = {}
local missing = {}
for j = 1, n do
  local v = redis.call('HMGET', KEYS[2 + j], 'seeded', 'sm', 'st', 'rm', 'rt')
  if not v[1] then table.insert(missing, j - 1) end
  state[j] = v
end
if #missing > 0 then return {'seed', cjson.encode(missing)} end
for j = 1, n do
  local lm, lt = tonumber(ARGV[5 + j * 2]), tonumber(ARGV[6 + j * 2])
  local v = state[j]
  if lm >= 0 then
    local um = tonumber(v[2] or '0') + tonumber(v[4] or '0')
    if um + m > lm or um >= lm then return {'over', tostring(j - 1), 'usd'} end
  end
  if lt >= 0 then
    local ut = tonumber(v[3] or '0') + tonumber(v[5] or '0')
    if ut + t > lt or ut >= lt then return {'over', tostring(j - 1), 'tokens'} end
  end
end
for j = 1, n do
  if m > 0 and tonumber(ARGV[5 + j * 2]) >= 0 then redis.call('HINCRBY', KEYS[2 + j], 'rm', m) end
  if t > 0 and tonumber(ARGV[6 + j * 2]) >= 0 then redis.call('HINCRBY', KEYS[2 + j], 'rt', t) end
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return {'ok'}
"""
)

# KEYS: rz, rv, counters of the reservation...  ARGV: reservation id, micros, tokens, then per
# counter what it holds (micros, tokens; as in the holds JSON). Gives the holds back if the
# reservation is still open (not expired and given back already) and adds the actual spend to
# every seeded counter (an unseeded counter will be seeded from the database instead).
SETTLE_LUA = """
local open = redis.call('HDEL', KEYS[2], ARGV[1]) == 1
if open then redis.call('ZREM', KEYS[1], ARGV[1]) end
local m, t = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 3, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'seeded') == 1 then
    if open then
      local hm, ht = tonumber(ARGV[i * 2 - 2]), tonumber(ARGV[i * 2 - 1])
      if hm > 0 then redis.call('HINCRBY', KEYS[i], 'rm', 0 - hm) end
      if ht > 0 then redis.call('HINCRBY', KEYS[i], 'rt', 0 - ht) end
    end
    if m > 0 then redis.call('HINCRBY', KEYS[i], 'sm', m) end
    if t > 0 then redis.call('HINCRBY', KEYS[i], 'st', t) end
  end
end
if open then return 1 end
return 0
"""

# KEYS: counters, then the stats key.  ARGV per counter: micros, tokens, expire-at; last: mode
# ("seed": only where not seeded yet, one writer wins; "rebuild": also raise a counter that is
# behind the database). Returns how many counters were seeded. A counter lives at least a day
# by Redis's own clock: a gateway whose clock is behind Redis's by more than the grace period
# must not seed counters that vanish at once (every reserve would then fall back to the
# database).
SEED_LUA = """
local n = #KEYS - 1
local mode = ARGV[n * 3 + 1]
local seeded = 0
local earliest = tonumber(redis.call('TIME')[1]) + 86400
for i = 1, n do
  local m, t = tonumber(ARGV[i * 3 - 2]), tonumber(ARGV[i * 3 - 1])
  if redis.call('HSETNX', KEYS[i], 'seeded', '1') == 1 then
    redis.call('HSET', KEYS[i], 'sm', m, 'st', t)
    redis.call('EXPIREAT', KEYS[i], math.max(tonumber(ARGV[i * 3]), earliest))
    seeded = seeded + 1
  elseif mode == 'rebuild' then
    local v = redis.call('HMGET', KEYS[i], 'sm', 'st')
    if tonumber(v[1] or '0') < m then redis.call('HSET', KEYS[i], 'sm', m) end
    if tonumber(v[2] or '0') < t then redis.call('HSET', KEYS[i], 'st', t) end
  end
end
if seeded > 0 then redis.call('INCRBY', KEYS[n + 1], seeded) end
return seeded
"""


def tenant_keys(tenant_id: int) -> tuple[str, str]:
    base = f"tg:bud:{{t:{tenant_id}}}"
    return f"{base}:rz", f"{base}:rv"


def seeds_key(tenant_id: int) -> str:
    """Counts how many counters were seeded from the database (observability and tests)."""
    return f"tg:bud:{{t:{tenant_id}}}:seeds"


def seed_lock_key(tenant_id: int) -> str:
    return f"tg:bud:{{t:{tenant_id}}}:seedlock"


def reserve_args(
    *,
    plans: list[CounterPlan],
    reservation_id: str,
    micros: int,
    tokens: int,
    held: list[tuple[int, int]],
    ttl_seconds: float,
) -> tuple[list[str], list]:
    """`held`: held_amounts() of the same plans, kept on the reservation for its settlement."""
    rz, rv = tenant_keys(plans[0].tenant_id)
    now_ms = int(time.time() * 1000)
    holds = json.dumps([[plan.key, *amounts] for plan, amounts in zip(plans, held, strict=True)])
    args: list = [now_ms, now_ms + int(ttl_seconds * 1000), reservation_id, holds, micros, tokens]
    for plan in plans:
        args += [
            -1 if plan.limit_micros is None else plan.limit_micros,
            -1 if plan.limit_tokens is None else plan.limit_tokens,
        ]
    return [rz, rv, *(plan.key for plan in plans)], args


def held_amounts(*, plans: list[CounterPlan], micros: int, tokens: int) -> list[tuple[int, int]]:
    """What a reservation holds on each counter (RESERVE_LUA): only the measures it limits."""
    return [
        (
            micros if plan.limit_micros is not None else 0,
            tokens if plan.limit_tokens is not None else 0,
        )
        for plan in plans
    ]


def settle_args(
    *, reservation_id: str, micros: int, tokens: int, held: list[tuple[int, int]]
) -> list:
    args: list = [reservation_id, micros, tokens]
    for held_micros, held_tokens in held:
        args += [held_micros, held_tokens]
    return args


def seed_args(*, plans: list[CounterPlan], values: list[tuple[int, int]], mode: str):
    args: list = []
    for plan, (micros, tokens) in zip(plans, values, strict=True):
        args += [micros, tokens, plan.expire_at]
    args.append(mode)
    return [*(plan.key for plan in plans), seeds_key(plans[0].tenant_id)], args


_id_state = {"pid": 0, "prefix": "", "seq": itertools.count()}


def new_reservation_id() -> str:
    """Unique per reservation: a random per-process prefix (renewed after a fork) + a sequence."""
    pid = os.getpid()
    if _id_state["pid"] != pid:
        _id_state.update(pid=pid, prefix=uuid.uuid4().hex[:16], seq=itertools.count())
    return f"{_id_state['prefix']}{next(_id_state['seq']):x}"


# --- Database path --------------------------------------------------------------------------


@dataclass
class DbOutcome:
    ok: bool
    over_index: int = -1
    over_what: str = ""


def _lock_counters(keys: list[str]) -> dict[str, BudgetCounter]:
    if connection.vendor == "sqlite":
        # A write first: SQLite takes its database write lock now, before we read.
        BudgetCounter.objects.filter(key__in=keys).update(spent_micros=F("spent_micros"))
        rows = BudgetCounter.objects.filter(key__in=keys)
    else:
        rows = BudgetCounter.objects.select_for_update().filter(key__in=keys).order_by("key")
    return {row.key: row for row in rows}


def _ensure_counters(plans: list[CounterPlan]) -> None:
    existing = set(
        BudgetCounter.objects.filter(key__in=[p.key for p in plans]).values_list("key", flat=True)
    )
    for plan in plans:
        if plan.key not in existing:
            BudgetCounter.objects.get_or_create(
                key=plan.key,
                defaults={
                    "tenant_id": plan.tenant_id,
                    "expires_at": plan.window.end + COUNTER_GRACE,
                },
            )


def _refresh_counter(row: BudgetCounter, plan: CounterPlan, tz: ZoneInfo, now: datetime) -> None:
    """Raise a stale counter to the database truth (rows go stale while Redis serves)."""
    if row.seeded_at and row.seeded_at > now - timedelta(seconds=DB_RESEED_SECONDS):
        return
    micros, tokens = plan_truth(plan=plan, tz=tz)
    row.spent_micros = max(row.spent_micros, micros)
    row.spent_tokens = max(row.spent_tokens, tokens)
    row.seeded_at = now
    row.save(update_fields=["spent_micros", "spent_tokens", "seeded_at"])


def db_reserve(
    *,
    plans: list[CounterPlan],
    tz: ZoneInfo,
    reservation_id: str,
    micros: int,
    tokens: int,
    ttl_seconds: float,
) -> DbOutcome:
    _ensure_counters(plans)
    now = timezone.now()
    with transaction.atomic():
        rows = _lock_counters([plan.key for plan in plans])
        for plan in plans:
            _refresh_counter(rows[plan.key], plan, tz, now)
        held = {
            item["counter_id"]: item
            for item in BudgetHold.objects.filter(
                counter_id__in=[row.pk for row in rows.values()], expires_at__gt=now
            )
            .values("counter_id")
            .annotate(m=Sum("micros"), t=Sum("tokens"))
        }
        for index, plan in enumerate(plans):
            row = rows[plan.key]
            hold = held.get(row.pk, {})
            used_m = row.spent_micros + (hold.get("m") or 0)
            used_t = row.spent_tokens + (hold.get("t") or 0)
            if plan.limit_micros is not None and (
                used_m + micros > plan.limit_micros or used_m >= plan.limit_micros
            ):
                return DbOutcome(ok=False, over_index=index, over_what="usd")
            if plan.limit_tokens is not None and (
                used_t + tokens > plan.limit_tokens or used_t >= plan.limit_tokens
            ):
                return DbOutcome(ok=False, over_index=index, over_what="tokens")
        expires_at = now + timedelta(seconds=ttl_seconds)
        BudgetHold.objects.bulk_create(
            [
                BudgetHold(
                    reservation_id=reservation_id,
                    counter=rows[plan.key],
                    micros=micros,
                    tokens=tokens,
                    expires_at=expires_at,
                )
                for plan in plans
            ]
        )
    return DbOutcome(ok=True)


def db_settle(*, keys: list[str], reservation_id: str, micros: int, tokens: int) -> None:
    if not micros and not tokens:
        BudgetHold.objects.filter(reservation_id=reservation_id).delete()
        return
    with transaction.atomic():
        rows = _lock_counters(sorted(keys))
        BudgetHold.objects.filter(reservation_id=reservation_id).delete()
        BudgetCounter.objects.filter(pk__in=[row.pk for row in rows.values()]).update(
            spent_micros=F("spent_micros") + micros, spent_tokens=F("spent_tokens") + tokens
        )


def db_counter_values(*, plans: list[CounterPlan], tz: ZoneInfo) -> list[tuple[int, int]]:
    """Settled spend per counter (refreshing stale rows from the database truth)."""
    _ensure_counters(plans)
    now = timezone.now()
    with transaction.atomic():
        rows = _lock_counters([plan.key for plan in plans])
        for plan in plans:
            _refresh_counter(rows[plan.key], plan, tz, now)
    return [(rows[p.key].spent_micros, rows[p.key].spent_tokens) for p in plans]


# --- Synchronous readers and rebuild (Celery side) ------------------------------------------


def all_plans(*, budgets: TenantBudgets, at: datetime | None = None) -> list[CounterPlan]:
    """Every counter of a tenant's active budgets (each budget on its own scope)."""
    plans: dict[str, CounterPlan] = {}
    for spec in budgets.budgets:
        scoped = TenantBudgets(tenant_id=budgets.tenant_id, tz=budgets.tz, budgets=(spec,))
        for plan in counter_plans(
            budgets=scoped,
            api_key_id=spec.scope_id if spec.scope == Budget.Scope.KEY else None,
            config_id=spec.scope_id if spec.scope == Budget.Scope.CONFIG else None,
            at=at,
        ):
            plans.setdefault(plan.key, plan)
    return sorted(plans.values(), key=lambda plan: plan.key)


def counter_values_sync(
    *, plans: list[CounterPlan], tz: ZoneInfo, mode: str = "seed"
) -> list[tuple[int, int]]:
    """Settled (micros, tokens) per counter. On Redis, counters are first seeded (or, with
    mode="rebuild", raised to the database truth); without Redis, the database counters."""
    from core.redis import get_redis

    if not plans:
        return []
    client = get_redis()
    if client is not None:
        try:
            pipe = client.pipeline(transaction=False)
            for plan in plans:
                pipe.hexists(plan.key, "seeded")
            seeded = pipe.execute()
            todo = (
                plans
                if mode == "rebuild"
                else [p for p, s in zip(plans, seeded, strict=True) if not s]
            )
            if todo:
                values = [plan_truth(plan=plan, tz=tz) for plan in todo]
                keys, args = seed_args(plans=todo, values=values, mode=mode)
                client.register_script(SEED_LUA)(keys=keys, args=args)
            pipe = client.pipeline(transaction=False)
            for plan in plans:
                pipe.hmget(plan.key, "sm", "st")
            return [(int(m or 0), int(t or 0)) for m, t in pipe.execute()]
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            logger.warning("Redis unreachable: budget counters read from the database")
    if mode == "rebuild":
        BudgetCounter.objects.filter(key__in=[p.key for p in plans]).update(seeded_at=None)
    return db_counter_values(plans=plans, tz=tz)


def counters_rebuild(*, now: datetime | None = None) -> int:
    """Bring every current counter up to the database truth; drop expired database counters
    and holds. Returns the number of counters checked."""
    now = now or timezone.now()
    checked = 0
    tenant_ids = Budget.objects.filter(is_active=True).values_list("tenant_id", flat=True)
    for tenant in Tenant.objects.filter(pk__in=tenant_ids):
        budgets = _load_budgets(tenant.pk)
        plans = all_plans(budgets=budgets, at=now)
        counter_values_sync(plans=plans, tz=budgets.tz, mode="rebuild")
        checked += len(plans)
    BudgetHold.objects.filter(expires_at__lt=now - timedelta(hours=1)).delete()
    BudgetCounter.objects.filter(expires_at__lt=now).delete()
    return checked
