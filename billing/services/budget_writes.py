"""Budget writes (create, change, delete) that drop the cached budgets once they commit.

The request path's budget checks are billing/services/budgets.py."""

from typing import TYPE_CHECKING, Any

from django.db import transaction

from billing.models import Budget
from billing.services.budget_specs import budget_cache_invalidate

if TYPE_CHECKING:
    from tenants.models import Tenant

BUDGET_FIELDS = (
    "scope",
    "config",
    "api_key",
    "end_user",
    "period",
    "limit_usd",
    "limit_tokens",
    "mode",
    "alert_thresholds",
    "is_active",
)


def _save(budget: Budget) -> Budget:
    budget.full_clean()
    budget.save()
    tenant_id = budget.tenant_id
    transaction.on_commit(lambda: budget_cache_invalidate(tenant_id=tenant_id))
    return budget


@transaction.atomic
def budget_create(*, tenant: "Tenant", data: dict[str, Any]) -> Budget:
    budget = Budget(tenant=tenant, **{k: v for k, v in data.items() if k in BUDGET_FIELDS})
    return _save(budget)


@transaction.atomic
def budget_update(*, budget: Budget, data: dict[str, Any]) -> Budget:
    budget = Budget.objects.select_for_update().get(pk=budget.pk)
    for field, value in data.items():
        if field in BUDGET_FIELDS:
            setattr(budget, field, value)
    if budget.scope != Budget.Scope.CONFIG:
        budget.config = None
    if budget.scope != Budget.Scope.KEY:
        budget.api_key = None
    if budget.scope != Budget.Scope.USER:
        budget.end_user = ""
    return _save(budget)


def budget_delete(*, budget: Budget) -> None:
    tenant_id = budget.tenant_id
    budget.delete()
    budget_cache_invalidate(tenant_id=tenant_id)
