"""The database truth behind every budget counter: what a scope has spent in a period.

Final daily rollups through the last final day, then raw usage events since. A Redis counter
is seeded from it, database counters are refreshed from it, and the periodic rebuild raises
counters that fell behind it. An end user's spend (user budgets) is read from the events alone,
on their (tenant, end user, created) index: one user's events of a period are few, and raw
events outlive every budget period (TOLLGATE_USAGE_RETENTION_DAYS).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import F, Q, Sum

from billing.models import (
    NOT_BILLED_TOKEN_STATUSES,
    Budget,
    DailyRollup,
    RollupState,
    UsageEvent,
)
from billing.services.micros import to_micros
from core.calendar import local_midnight

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from billing.services.counter_plans import CounterPlan
    from core.calendar import PeriodWindow


def _scope_filter(scope: str, scope_id: int, *, rollup: bool) -> Q:
    if scope == Budget.Scope.CONFIG:
        return Q(config_ref=scope_id) if rollup else Q(config_id=scope_id)
    if scope == Budget.Scope.KEY:
        return Q(api_key_ref=scope_id) if rollup else Q(api_key_id=scope_id)
    return Q()


def spend_truth(
    *,
    tenant_id: int,
    scope: str,
    scope_id: int,
    window: PeriodWindow,
    tz: ZoneInfo,
    end_user: str = "",
) -> tuple[Decimal, int]:
    """Spend and billed tokens of a scope in a period: final daily rollups, then raw events
    from the first day that is not final yet."""
    if scope == Budget.Scope.USER:
        return _events_spend(
            UsageEvent.objects.filter(
                tenant_id=tenant_id,
                end_user=end_user,
                created_at__gte=window.start,
                created_at__lt=window.end,
            )
        )
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
        event_cost, event_tokens = _events_spend(events)
        cost += event_cost
        tokens += event_tokens
    return cost, int(tokens)


def _events_spend(events) -> tuple[Decimal, int]:
    cost = events.aggregate(cost=Sum("cost_usd"))["cost"] or Decimal(0)
    tokens = (
        events.exclude(status__in=NOT_BILLED_TOKEN_STATUSES).aggregate(
            tokens=Sum(F("input_tokens") + F("output_tokens"))
        )["tokens"]
        or 0
    )
    return cost, int(tokens)


def active_end_users(*, tenant_id: int, window: PeriodWindow, limit: int = 10_000) -> list[str]:
    """The end users with usage in a period (the counters a "*" user budget has there), most
    ordered by id, at most `limit` (the periodic rebuild and alerts walk them)."""
    return list(
        UsageEvent.objects.filter(
            tenant_id=tenant_id, created_at__gte=window.start, created_at__lt=window.end
        )
        .exclude(end_user="")
        .values_list("end_user", flat=True)
        .distinct()
        .order_by("end_user")[:limit]
    )


def plan_truth(*, plan: CounterPlan, tz: ZoneInfo) -> tuple[int, int]:
    """spend_truth() of one counter, in the counter's units (micro-dollars, tokens)."""
    cost, tokens = spend_truth(
        tenant_id=plan.tenant_id,
        scope=plan.scope,
        scope_id=plan.scope_id,
        window=plan.window,
        tz=tz,
        end_user=plan.end_user,
    )
    return to_micros(cost), tokens
