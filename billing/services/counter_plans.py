"""Which budget counters a request touches, and the limits each one enforces.

One counter per (tenant, scope, scope id, period key), in integer micro-dollars and tokens. A
counter is shared by every budget on that scope and period; the strictest strict limit applies.
The same key names the Redis hash (counters_redis.py) and the BudgetCounter row
(counters_db.py); all keys of a tenant share one Redis hash slot (`{t:ID}`).

End users (user budgets) get one counter per (tenant, end user, period), shared by the "*"
template and a budget naming that user: its key carries a digest of the id (ids are up to 128
characters of the tenant's choosing; the digest bounds the key and keeps `:` and braces out).
A request that names no end user touches no user counter.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from billing.models import Budget
from billing.models.budgets import EACH_END_USER
from billing.services.budget_specs import TenantBudgets
from core.calendar import period_window

if TYPE_CHECKING:
    from collections.abc import Iterable
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
    end_user: str = ""  # the user scope's end user id

    @property
    def expire_at(self) -> int:
        return int((self.window.end + COUNTER_GRACE).timestamp())


def counter_key(
    *, tenant_id: int, scope: str, scope_id: int | str, period: str, window_key: str
) -> str:
    return f"tg:bud:{{t:{tenant_id}}}:{scope}:{scope_id}:{period[0]}{window_key}"


def end_user_ref(end_user: str) -> str:
    """The end user's part of a counter key: a fixed-length digest of the id."""
    return hashlib.sha256(end_user.encode()).hexdigest()[:24]


def _applies(spec, *, api_key_id: int | None, config_id: int | None, end_user: str) -> bool:
    if spec.scope == Budget.Scope.CONFIG:
        return spec.scope_id == config_id
    if spec.scope == Budget.Scope.KEY:
        return spec.scope_id == api_key_id
    if spec.scope == Budget.Scope.USER:
        return bool(end_user) and spec.end_user in (EACH_END_USER, end_user)
    return True


def counter_plans(
    *,
    budgets: TenantBudgets,
    api_key_id: int | None,
    config_id: int | None,
    end_user: str | None = None,
    at: datetime | None = None,
    scopes: tuple[str, ...] = ("tenant", "config", "key", "user"),
) -> list[CounterPlan]:
    plans: dict[str, CounterPlan] = {}
    windows: dict[str, PeriodWindow] = {}
    for spec in budgets.budgets:
        if spec.scope not in scopes or not _applies(
            spec, api_key_id=api_key_id, config_id=config_id, end_user=end_user or ""
        ):
            continue
        window = windows.get(spec.period)
        if window is None:
            window = windows[spec.period] = period_window(period=spec.period, tz=budgets.tz, at=at)
        is_user = spec.scope == Budget.Scope.USER
        key = counter_key(
            tenant_id=budgets.tenant_id,
            scope=spec.scope,
            scope_id=end_user_ref(end_user or "") if is_user else spec.scope_id,
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
                label=f"end user '{end_user}'" if is_user else spec.label,
                end_user=(end_user or "") if is_user else "",
            )
        if spec.strict:
            if spec.limit_micros is not None:
                plan.limit_micros = min(spec.limit_micros, plan.limit_micros or spec.limit_micros)
            if spec.limit_tokens is not None:
                plan.limit_tokens = min(spec.limit_tokens, plan.limit_tokens or spec.limit_tokens)
    return sorted(plans.values(), key=lambda plan: plan.key)


_plan_cache: dict[tuple, tuple[TenantBudgets, float, float, list[CounterPlan]]] = {}


def request_plans(
    *,
    budgets: TenantBudgets,
    api_key_id: int | None,
    config_id: int | None,
    end_user: str | None = None,
) -> list[CounterPlan]:
    """counter_plans() for the current instant, cached until the earliest period ends (the
    hot path computes local periods once per period, not once per request)."""
    cache_key = (budgets.tenant_id, api_key_id, config_id, end_user or "")
    now = time.time()
    hit = _plan_cache.get(cache_key)
    if hit and hit[0] is budgets and hit[1] <= now < hit[2]:
        return hit[3]
    plans = counter_plans(
        budgets=budgets, api_key_id=api_key_id, config_id=config_id, end_user=end_user
    )
    if plans:
        valid_from = max(plan.window.start.timestamp() for plan in plans)
        valid_to = min(plan.window.end.timestamp() for plan in plans)
        if len(_plan_cache) > 10_000:
            _plan_cache.clear()
        _plan_cache[cache_key] = (budgets, valid_from, valid_to, plans)
    return plans


def all_plans(
    *, budgets: TenantBudgets, at: datetime | None = None, end_users: Iterable[str] = ()
) -> list[CounterPlan]:
    """Every counter of a tenant's active budgets (each budget on its own scope). User budgets:
    the counter of the end user a budget names, and for "*" one per id in `end_users` (the
    users active in the period: see spend_truth.active_end_users)."""
    plans: dict[str, CounterPlan] = {}
    active = tuple(end_users)
    for spec in budgets.budgets:
        scoped = TenantBudgets(tenant_id=budgets.tenant_id, tz=budgets.tz, budgets=(spec,))
        users: tuple[str | None, ...] = (None,)
        if spec.scope == Budget.Scope.USER:
            users = active if spec.end_user == EACH_END_USER else (spec.end_user,)
        for user in users:
            for plan in counter_plans(
                budgets=scoped,
                api_key_id=spec.scope_id if spec.scope == Budget.Scope.KEY else None,
                config_id=spec.scope_id if spec.scope == Budget.Scope.CONFIG else None,
                end_user=user,
                at=at,
            ):
                plans.setdefault(plan.key, plan)
    return sorted(plans.values(), key=lambda plan: plan.key)


def spec_plans(spec, plans: list[CounterPlan]) -> list[CounterPlan]:
    """The counters among `plans` that one budget limits (a "*" user budget: every user's)."""
    return [
        plan
        for plan in plans
        if (plan.scope, plan.scope_id, plan.period) == (spec.scope, spec.scope_id, spec.period)
        and (spec.scope != Budget.Scope.USER or spec.end_user in (EACH_END_USER, plan.end_user))
    ]
