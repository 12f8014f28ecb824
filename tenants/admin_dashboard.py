"""The admin index dashboard: spend and requests today and this month, and the top models.

Wired in as unfold's DASHBOARD_CALLBACK (config/unfold.py). Operators see every tenant; anyone
else sees the tenants they are a member of. Two aggregate queries over UsageEvent.
"""

import zoneinfo
from datetime import datetime, tzinfo
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.http import HttpRequest
from django.utils import timezone

from billing.models import UsageEvent
from tenants.admin_scoping import is_operator, viewable_tenant_ids
from tenants.models import Tenant

_CENTS = Decimal("0.01")
_FAILED = (UsageEvent.Status.ERROR, UsageEvent.Status.REJECTED)


def usage_dashboard(
    *, tenant_ids: list[int] | None, tz: tzinfo, now: datetime | None = None, top: int = 5
) -> dict:
    """Usage totals since the start of today and of this month in `tz`, and the top models of
    the month by cost. `tenant_ids=None` means every tenant (operators)."""
    local_now = (now or timezone.now()).astimezone(tz)
    day_start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    events = UsageEvent.objects.filter(created_at__gte=month_start)
    if tenant_ids is not None:
        events = events.filter(tenant_id__in=tenant_ids)
    today = Q(created_at__gte=day_start)
    totals = events.aggregate(
        spend_month=Sum("cost_usd"),
        requests_month=Count("id"),
        spend_today=Sum("cost_usd", filter=today),
        requests_today=Count("id", filter=today),
        failed_today=Count("id", filter=today & Q(status__in=_FAILED)),
        saved_month=Sum("saved_usd"),
    )
    top_models = list(
        events.exclude(model="")
        .values("model")
        .annotate(
            requests=Count("id"),
            cost=Sum("cost_usd"),
            tokens=Sum(F("input_tokens") + F("output_tokens")),
        )
        .order_by("-cost", "-requests", "model")[:top]
    )
    for row in top_models:
        row["cost"] = _money(row["cost"])
    return {
        "spend_today": _money(totals["spend_today"]),
        "spend_month": _money(totals["spend_month"]),
        "saved_month": _money(totals["saved_month"]),
        "requests_today": totals["requests_today"],
        "requests_month": totals["requests_month"],
        "failed_today": totals["failed_today"],
        "top_models": top_models,
        "month_start": month_start,
        "timezone": str(tz),
    }


def _money(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(_CENTS)


def dashboard_callback(request: HttpRequest, context: dict) -> dict:
    if is_operator(request):
        tenant_ids, tz, scope = None, zoneinfo.ZoneInfo("UTC"), "All tenants"
    else:
        tenant_ids = viewable_tenant_ids(request)
        if not tenant_ids:
            return context
        tenants = list(Tenant.objects.filter(pk__in=tenant_ids).order_by("slug"))
        # One tenant: its own day and month; several: UTC, so the sums add up.
        tz = tenants[0].tzinfo if len(tenants) == 1 else zoneinfo.ZoneInfo("UTC")
        scope = ", ".join(t.name for t in tenants)
    context["tollgate_dashboard"] = {
        "scope": scope,
        **usage_dashboard(tenant_ids=tenant_ids, tz=tz),
    }
    return context
