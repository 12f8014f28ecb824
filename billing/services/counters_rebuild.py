"""Budget counters from sync code (Celery, admin, route preview): read them, and rebuild them.

The periodic rebuild raises a counter that is behind the database truth and never lowers one
that is ahead (it may hold settlements whose events are still in the ingestion buffer); it also
drops expired database counters and holds.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import redis.exceptions
from django.utils import timezone

from billing.models import Budget, BudgetCounter, BudgetHold
from billing.models.budgets import EACH_END_USER
from billing.services.budget_specs import tenant_budgets_load
from billing.services.counter_plans import all_plans
from billing.services.counters_db import db_counter_values
from billing.services.counters_redis import SEED_LUA, seed_args
from billing.services.spend_truth import active_end_users, plan_truth
from core.calendar import period_window
from core.redis import get_redis
from tenants.models import Tenant

if TYPE_CHECKING:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from billing.services.budget_specs import TenantBudgets
    from billing.services.counter_plans import CounterPlan

logger = logging.getLogger(__name__)


def counter_values_sync(
    *, plans: list[CounterPlan], tz: ZoneInfo, mode: str = "seed"
) -> list[tuple[int, int]]:
    """Settled (micros, tokens) per counter. On Redis, counters are first seeded (or, with
    mode="rebuild", raised to the database truth); without Redis, the database counters."""
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


def every_plan(*, budgets: TenantBudgets, at: datetime) -> list[CounterPlan]:
    """all_plans() with the end users of "*" user budgets that were active in each period."""
    users: set[str] = set()
    for spec in budgets.budgets:
        if spec.scope == Budget.Scope.USER and spec.end_user == EACH_END_USER:
            window = period_window(period=spec.period, tz=budgets.tz, at=at)
            users.update(active_end_users(tenant_id=budgets.tenant_id, window=window))
    return all_plans(budgets=budgets, at=at, end_users=sorted(users))


def counters_rebuild(*, now: datetime | None = None) -> int:
    """Bring every current counter up to the database truth; drop expired database counters
    and holds. Returns the number of counters checked."""
    now = now or timezone.now()
    checked = 0
    tenant_ids = Budget.objects.filter(is_active=True).values_list("tenant_id", flat=True)
    for tenant in Tenant.objects.filter(pk__in=tenant_ids):
        budgets = tenant_budgets_load(tenant_id=tenant.pk)
        plans = every_plan(budgets=budgets, at=now)
        counter_values_sync(plans=plans, tz=budgets.tz, mode="rebuild")
        checked += len(plans)
    BudgetHold.objects.filter(expires_at__lt=now - timedelta(hours=1)).delete()
    BudgetCounter.objects.filter(expires_at__lt=now).delete()
    return checked
