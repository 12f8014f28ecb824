"""The budget utilisation gauges of /metrics: each active budget's spend in its current period
as a percentage of its limit (the higher of cost and tokens when both are limited), read from
the same counters the alerts evaluate. Set by the periodic budget evaluation (billing.tasks),
so a scrape costs no counter reads. A user budget's gauge is its most used end user's share
(end user ids are never labels)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from billing.models import Budget
from billing.services.alerts import _used_pct as used_pct  # the alerts' one definition
from billing.services.budget_specs import tenant_budgets
from billing.services.counter_plans import spec_plans
from billing.services.counters_rebuild import counter_values_sync, every_plan
from core.metrics import budget_used_set
from tenants.models import Tenant


def budget_gauges_refresh(*, now: datetime | None = None) -> int:
    """Set the gauge of every active budget whose counter is known; returns how many."""
    now = now or timezone.now()
    tenant_ids = Budget.objects.filter(is_active=True).values_list("tenant_id", flat=True)
    count = 0
    for tenant in Tenant.objects.filter(pk__in=list(tenant_ids.distinct())).only("slug"):
        budgets = tenant_budgets(tenant_id=tenant.pk)
        plans = every_plan(budgets=budgets, at=now)
        values = dict(
            zip(
                [p.key for p in plans], counter_values_sync(plans=plans, tz=budgets.tz), strict=True
            )
        )
        for spec in budgets.budgets:
            pcts = [
                pct
                for plan in spec_plans(spec, plans)
                for pct in (
                    used_pct(values[plan.key][0], spec.limit_micros),
                    used_pct(values[plan.key][1], spec.limit_tokens),
                )
                if pct is not None
            ]
            if not pcts:
                continue
            budget_used_set(
                tenant=tenant.slug,
                budget=spec.id,
                scope=spec.scope,
                period=spec.period,
                pct=float(max(pcts)),
            )
            count += 1
    return count
