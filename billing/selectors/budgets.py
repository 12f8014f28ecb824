"""Budget reads: a tenant's budgets (every tenant's for platform staff) and the alerts they sent.
(What a budget has spent: billing/services/budget_status.py, beside the spend truth.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.models import Budget, BudgetAlert

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from tenants.models import Tenant


def budget_list(*, tenant: Tenant | None) -> QuerySet[Budget]:
    qs = Budget.objects.select_related("tenant", "config", "api_key")
    if tenant is not None:
        return qs.filter(tenant=tenant).order_by("scope", "period", "id")
    return qs.order_by("tenant__slug", "scope", "period", "id")


def budget_alert_list(*, budget: Budget) -> QuerySet[BudgetAlert]:
    """The alerts a budget sent, newest first (each threshold once per period, per end user
    for a user budget), with their webhook attempts."""
    return (
        BudgetAlert.objects.filter(budget=budget)
        .prefetch_related("deliveries")
        .order_by("-created_at", "-id")
    )
