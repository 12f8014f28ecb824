"""The admin index dashboard: spend and requests today and this month, and the top models.

Wired in as unfold's DASHBOARD_CALLBACK (config/unfold.py). Operators see every tenant; anyone
else sees the tenants they are a member of. Month figures come from the daily rollups plus the
events after them (see usage_dashboard).
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from billing.models import DailyRollup, RollupState, UsageEvent
from core.calendar import local_midnight
from core.money import money_quantize
from tenants.admin_scoping import is_operator, viewable_tenant_ids
from tenants.models import Tenant

if TYPE_CHECKING:
    from datetime import date, datetime, tzinfo
    from decimal import Decimal

    from django.db.models import QuerySet
    from django.http import HttpRequest

_FAILED = (UsageEvent.Status.ERROR, UsageEvent.Status.REJECTED)


def usage_dashboard(
    *, tenant_ids: list[int] | None, tz: tzinfo, now: datetime | None = None, top: int = 5
) -> dict:
    """Usage totals since the start of today and of this month in `tz`, and the top models of
    the month by cost. `tenant_ids=None` means every tenant (operators).

    The month's whole, final local days of each tenant come from the daily rollups; the rest
    of the month (partial days at the edges in another time zone, days not rolled up yet and
    today) from the raw events, so the sums are exact without scanning the month's events."""
    local_now = (now or timezone.now()).astimezone(tz)
    day_start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    rolled, raw = _split_month(tenant_ids=tenant_ids, month_start=month_start, before=day_start)
    from_events = list(_events_per_model(raw=raw, day_start=day_start))
    from_rollups = list(_rollups_per_model(rolled)) if rolled is not None else []
    month = [*from_events, *from_rollups]
    saved = _saved_since(tenant_ids=tenant_ids, start=month_start)
    return {
        "spend_today": money_quantize(_total(from_events, "spend_today")),
        "spend_month": money_quantize(_total(month, "cost")),
        "saved_month": money_quantize(saved),
        "requests_today": _total(from_events, "requests_today"),
        "requests_month": _total(month, "requests"),
        "failed_today": _total(from_events, "failed_today"),
        "top_models": _top_models(month, top=top),
        "month_start": month_start,
        "timezone": str(tz),
    }


def _events_per_model(*, raw: Q, day_start: datetime) -> QuerySet:
    """One pass over the month's events outside the rollups: per model, with today's figures
    alongside."""
    today = Q(created_at__gte=day_start)
    return (
        UsageEvent.objects.filter(raw)
        .values("model")
        .annotate(
            requests=Count("id"),
            cost=Sum("cost_usd"),
            tokens=Sum(F("input_tokens") + F("output_tokens")),
            spend_today=Sum("cost_usd", filter=today),
            requests_today=Count("id", filter=today),
            failed_today=Count("id", filter=today & Q(status__in=_FAILED)),
        )
        .order_by()
    )


def _rollups_per_model(rolled: Q) -> QuerySet:
    """The month's final days per model, from the daily rollups."""
    return (
        DailyRollup.objects.filter(rolled)
        .values("model")
        .annotate(
            requests=Sum("requests"),
            cost=Sum("cost_usd"),
            tokens=Sum(F("input_tokens") + F("output_tokens")),
        )
        .order_by()
    )


def _saved_since(*, tenant_ids: list[int] | None, start: datetime) -> Decimal | None:
    """Cost avoided is not a rollup measure; only cache hits carry it (a partial index)."""
    saved = UsageEvent.objects.filter(created_at__gte=start, saved_usd__gt=0)
    if tenant_ids is not None:
        saved = saved.filter(tenant_id__in=tenant_ids)
    return saved.aggregate(s=Sum("saved_usd"))["s"]


def _total(rows: list[dict], field: str) -> Decimal | int:
    """A sum over per-model rows (an empty group sums to None in SQL: counted as 0)."""
    return sum(row[field] or 0 for row in rows)


def _top_models(rows: list[dict], *, top: int) -> list[dict]:
    """The `top` models by cost (then requests, then name), rollup and event rows of a model
    added together; rows with no served model are left out."""
    models: dict[str, dict] = {}
    for row in rows:
        if row["model"] == "":
            continue
        into = models.setdefault(
            row["model"], {"model": row["model"], "requests": 0, "cost": 0, "tokens": 0}
        )
        into["requests"] += row["requests"] or 0
        into["cost"] += row["cost"] or 0
        into["tokens"] += row["tokens"] or 0
    top_models = sorted(models.values(), key=lambda r: (-r["cost"], -r["requests"], r["model"]))
    top_models = top_models[:top]
    for row in top_models:
        row["cost"] = money_quantize(row["cost"])
    return top_models


def _split_month(
    *, tenant_ids: list[int] | None, month_start: datetime, before: datetime
) -> tuple[Q | None, Q]:
    """(rollup rows, raw events) that together cover [month_start, now) once, per tenant: the
    tenant's whole local days inside [month_start, before) up to its rollup watermark from
    rollups, everything else of the month from events. Tenants sharing a time zone and a
    watermark share one condition."""
    states = RollupState.objects.filter(rolled_through__isnull=False)
    if tenant_ids is not None:
        states = states.filter(tenant_id__in=tenant_ids)
    groups: dict[tuple[str, date], list[int]] = defaultdict(list)
    for tenant_id, tz_name, watermark in states.values_list(
        "tenant_id", "tenant__timezone", "rolled_through"
    ):
        groups[(tz_name, watermark)].append(tenant_id)
    rolled = Q(pk__in=[])
    raw = Q(pk__in=[])
    covered: list[int] = []
    for (tz_name, watermark), ids in groups.items():
        local = zoneinfo.ZoneInfo(tz_name)
        first = month_start.astimezone(local).date()
        if local_midnight(day=first, tz=local) < month_start:
            first += timedelta(days=1)
        last = min(watermark, before.astimezone(local).date() - timedelta(days=1))
        if last < first:
            continue
        lo = local_midnight(day=first, tz=local)
        hi = local_midnight(day=last + timedelta(days=1), tz=local)
        rolled |= Q(tenant_id__in=ids, day__gte=first, day__lte=last)
        raw |= Q(tenant_id__in=ids, created_at__gte=month_start, created_at__lt=lo)
        raw |= Q(tenant_id__in=ids, created_at__gte=hi)
        covered.extend(ids)
    if not covered:
        everything = Q(created_at__gte=month_start)
        if tenant_ids is not None:
            everything &= Q(tenant_id__in=tenant_ids)
        return None, everything
    if tenant_ids is None:
        rest = list(Tenant.objects.exclude(pk__in=covered).values_list("pk", flat=True))
    else:
        rest = sorted(set(tenant_ids) - set(covered))
    if rest:
        raw |= Q(tenant_id__in=rest, created_at__gte=month_start)
    return rolled, raw


def month_totals_by_tenant(*, now: datetime | None = None) -> list[dict]:
    """Every tenant's spend and requests this month (UTC, so that they add up), costliest
    first: final days from the daily rollups, the rest from the events (_split_month)."""
    utc = zoneinfo.ZoneInfo("UTC")
    day_start = (
        (now or timezone.now()).astimezone(utc).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    rolled, raw = _split_month(
        tenant_ids=None, month_start=day_start.replace(day=1), before=day_start
    )
    totals: dict[int, dict] = defaultdict(lambda: {"requests": 0, "cost": 0, "failed": 0})
    sources = [
        UsageEvent.objects.filter(raw)
        .values("tenant_id")
        .annotate(
            requests=Count("id"),
            cost=Sum("cost_usd"),
            failed=Count("id", filter=Q(status__in=_FAILED)),
        )
    ]
    if rolled is not None:
        sources.append(
            DailyRollup.objects.filter(rolled)
            .values("tenant_id")
            .annotate(
                # Before `requests`: once annotated, that name is the sum, not the column.
                failed=Sum("requests", filter=Q(status__in=_FAILED)),
                requests=Sum("requests"),
                cost=Sum("cost_usd"),
            )
        )
    for source in sources:
        for row in source.order_by():
            into = totals[row["tenant_id"]]
            for field in ("requests", "cost", "failed"):
                into[field] += row[field] or 0
    names = dict(Tenant.objects.filter(pk__in=list(totals)).values_list("pk", "slug"))
    rows = [
        {
            "tenant_id": pk,
            "slug": names.get(pk, str(pk)),
            **values,
            "cost": money_quantize(values["cost"]),
        }
        for pk, values in totals.items()
    ]
    return sorted(rows, key=lambda r: (-r["cost"], -r["requests"], r["slug"]))


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
