"""Budget lookup for the hot path: a tenant's active budgets, from a short-lived in-process cache.

Budget and tenant saves in this process drop the cached entry (signal receivers, connected in
BillingConfig.ready); other processes see a change within CACHE_SECONDS.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save

from billing.models import Budget
from billing.services.micros import limit_micros
from core.db import connection_refresh
from tenants.models import Tenant

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0


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
    end_user: str = ""  # user scope: one end user id, or "*" for each end user separately


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


def tenant_budgets_load(*, tenant_id: int) -> TenantBudgets:
    """The tenant's active budgets from the database, bypassing the cache (the rebuild)."""
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
        elif budget.scope == Budget.Scope.USER:
            scope_id, label = 0, "end user"  # the plan names the user (counter_plans)
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
                end_user=budget.end_user if budget.scope == Budget.Scope.USER else "",
            )
        )
    return TenantBudgets(tenant_id=tenant_id, tz=ZoneInfo(tenant.timezone), budgets=tuple(specs))


def tenant_budgets(*, tenant_id: int) -> TenantBudgets:
    """The tenant's active budgets, from a short-lived in-process cache. While the database is
    unreachable the budgets last loaded stay in force (nobody can change them meanwhile)."""
    now = time.monotonic()
    hit = _cache.get(tenant_id)
    if hit and hit[0] > now:
        return hit[1]
    connection_refresh()  # a connection the database dropped is replaced, not reused
    try:
        loaded = tenant_budgets_load(tenant_id=tenant_id)
    except DatabaseError:
        if hit is None:
            raise
        logger.warning("database unreachable: tenant %s keeps its last budgets", tenant_id)
        _cache[tenant_id] = (now + CACHE_SECONDS, hit[1])
        return hit[1]
    _cache[tenant_id] = (now + CACHE_SECONDS, loaded)
    return loaded


def cached_tenant_budgets(*, tenant_id: int) -> TenantBudgets | None:
    """The cached budgets if still fresh, else None (lets async callers skip a thread hop)."""
    hit = _cache.get(tenant_id)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    return None
