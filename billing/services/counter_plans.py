"""Which budget counters a request touches, and the limits each one enforces.

One counter per (tenant, scope, scope id, period key), in integer micro-dollars and tokens. A
counter is shared by every budget on that scope and period; the strictest strict limit applies.
The same key names the Redis hash (counters_redis.py) and the BudgetCounter row
(counters_db.py); all keys of a tenant share one Redis hash slot (`{t:ID}`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from billing.models import Budget
from billing.services.budget_specs import TenantBudgets
from core.calendar import period_window

if TYPE_CHECKING:
    from datetime import datetime

    from core.calendar import PeriodWindow

COUNTER_GRACE = timedelta(days=3)  # a counter outlives its period by this much


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
