"""The tenant dashboard's figures: 30 days of cost per day sliced four ways, cost per provider,
requests, error / fallback / cache rates and savings, latency per model, top keys and tags, and
each budget's spend in its period. Every range figure comes from the rollups plus the open days
(console/selectors/usage_grid.py); only latency, which no rollup carries, samples the latest events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, F, Sum
from django.utils import timezone

from billing.models import UsageEvent
from billing.selectors.budgets import budget_list
from billing.selectors.rollup_state import rollup_watermark
from billing.selectors.usage_aggregates import usage_aggregate
from billing.selectors.usage_events import local_range
from billing.selectors.usage_filters import UsageFilters
from billing.services.budget_status import BudgetStatus, budget_statuses
from console.selectors.names import dimension_labels
from console.selectors.usage_grid import regrouped, saved_between, totals_by, usage_by_day
from core.money import money_quantize, money_text

if TYPE_CHECKING:
    from datetime import datetime

    from billing.models import Budget
    from tenants.models import Tenant

DAYS = 30
SERIES_LIMIT = 8  # stacked series shown by name; the rest are summed as "other"
LATENCY_SAMPLE = 2000  # latest events per tenant that the latency figures read
DIMENSIONS = ("model", "provider", "config", "key")
_FAILED = {UsageEvent.Status.ERROR, UsageEvent.Status.REJECTED}


@dataclass(frozen=True)
class BudgetLine:
    budget: Budget
    status: BudgetStatus

    @property
    def bar_pct(self) -> Decimal:
        return min(self.status.used_pct or Decimal(0), Decimal(100))


def _stacked(rows: list[dict], days: list[date], dim: str, labels: dict) -> dict:
    """Cost per day per value of `dim`, the costliest SERIES_LIMIT values by name."""
    per_value: dict[object, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    totals: dict[object, Decimal] = defaultdict(Decimal)
    for row in rows:
        value = row[dim]
        per_value[value][row["day"]] += row["cost"]
        totals[value] += row["cost"]
    ranked = sorted(totals, key=lambda v: (-totals[v], str(v)))
    shown, rest = ranked[:SERIES_LIMIT], ranked[SERIES_LIMIT:]
    datasets = [
        {"label": _label(value, labels), "data": _money_list(per_value[value], days)}
        for value in shown
    ]
    if rest:
        other: dict[date, Decimal] = defaultdict(Decimal)
        for value in rest:
            for day, cost in per_value[value].items():
                other[day] += cost
        datasets.append({"label": "other", "data": _money_list(other, days)})
    return {"datasets": datasets}


def _label(value: object, labels: dict) -> str:
    if value in (None, ""):
        return "(none)"
    return labels.get(value, str(value))


def _money_list(per_day: dict[date, Decimal], days: list[date]) -> list[str]:
    return [money_text(money_quantize(per_day.get(d, 0)), min_places=2) for d in days]


def _percentile(values: list[int], pct: int) -> int:
    """Nearest-rank percentile of a sorted list."""
    rank = max(1, -(-len(values) * pct // 100))
    return values[rank - 1]


def latency_by_model(*, tenant: Tenant, sample: int = LATENCY_SAMPLE) -> list[dict]:
    """p50 / p95 latency per served model over the latest `sample` answered requests (the
    index on tenant and time gives them without reading a range)."""
    latest = (
        UsageEvent.objects.filter(tenant=tenant)
        .exclude(model="")
        .exclude(status__in=[*_FAILED, UsageEvent.Status.CACHE_HIT])
        .order_by("-created_at")
        .values_list("model", "latency_ms")[:sample]
    )
    per_model: dict[str, list[int]] = defaultdict(list)
    for model, latency in latest:
        per_model[model].append(latency)
    out = []
    for model, values in sorted(per_model.items()):
        values.sort()
        out.append(
            {
                "model": model,
                "requests": len(values),
                "p50_ms": _percentile(values, 50),
                "p95_ms": _percentile(values, 95),
            }
        )
    return out


def _rate(part: int, whole: int) -> str:
    return f"{Decimal(part * 100) / whole:.1f}" if whole else "0.0"


def _kpis(rows: list[dict]) -> dict:
    """Requests, tokens, cost and the error / fallback / cache shares, from per-status rows."""
    by_status = totals_by(rows, "status")
    requests = sum(v["requests"] for v in by_status.values())
    failed = sum(by_status[s]["requests"] for s in _FAILED if s in by_status)
    fallbacks = by_status.get(UsageEvent.Status.FALLBACK_SUCCESS, {"requests": 0})["requests"]
    cache_hits = by_status.get(UsageEvent.Status.CACHE_HIT, {"requests": 0})["requests"]
    return {
        "cost": money_quantize(sum((r["cost"] for r in rows), Decimal(0))),
        "requests": requests,
        "tokens": sum(r["tokens"] for r in rows),
        "errors": failed,
        "error_rate": _rate(failed, requests),
        "fallbacks": fallbacks,
        "fallback_rate": _rate(fallbacks, requests),
        "cache_hits": cache_hits,
        "cache_rate": _rate(cache_hits, requests),
    }


def budget_lines(*, tenant: Tenant, by_scope: list[dict] | None = None) -> list[BudgetLine]:
    """Active budgets and their spend; `by_scope` (usage per day, config, key and status from
    the month's start) spares the budget read its own pass over the open days."""
    budgets = list(budget_list(tenant=tenant).filter(is_active=True))
    rows = None
    if by_scope is not None:
        rows = [
            (r["day"], r["config"] or 0, r["key"] or 0, r["cost"], r["billed"]) for r in by_scope
        ]
    statuses = budget_statuses(budgets=budgets, spend_rows=rows)
    return [BudgetLine(budget=b, status=statuses[b.pk]) for b in budgets]


def _top_keys(rows: list[dict], labels: dict, *, limit: int = 5) -> list[dict]:
    totals = totals_by(rows, "key")
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1]["cost"], -kv[1]["requests"]))
    return [
        {"label": _label(key, labels), **values, "cost": money_quantize(values["cost"])}
        for key, values in ranked[:limit]
    ]


def top_end_users(*, tenant: Tenant, start: date, end: date, limit: int = 5) -> list[dict]:
    """The tenant's customers (usage's `end_user`) by cost. Once the rollups carry end users
    (their watermark answers for `group_by=user`), the usage API's own aggregate; until then
    the events that name one, found through the (tenant, end_user, created_at) index, so a
    tenant whose requests name no end user costs an empty index range, not a scan."""
    if rollup_watermark(tenant=tenant, filters=UsageFilters(), group_by="user") is not None:
        rows = usage_aggregate(tenant=tenant, start=start, end=end, group_by="user")["results"]
        rows = [
            {"user": r["user"], "requests": r["requests"], "cost": r["cost_usd"]}
            for r in rows
            if r.get("user")
        ]
    else:
        lo, hi = local_range(tenant=tenant, start=start, end=end)
        rows = list(
            UsageEvent.objects.filter(
                tenant=tenant, end_user__gt="", created_at__gte=lo, created_at__lt=hi
            )
            .values(user=F("end_user"))
            .annotate(requests=Count("id"), cost=Sum("cost_usd"))
            .order_by()
        )
    rows.sort(key=lambda r: (-(r["cost"] or 0), -r["requests"], r["user"]))
    return [{**r, "cost": money_quantize(r["cost"])} for r in rows[:limit]]


def tenant_dashboard(*, tenant: Tenant, now: datetime | None = None) -> dict:
    """Everything the dashboard shows, for the 30 local days ending today."""
    today = timezone.localtime(now or timezone.now(), tenant.tzinfo).date()
    start = today - timedelta(days=DAYS - 1)
    month_start = today.replace(day=1)
    (by_model, by_scope), tags = usage_by_day(
        tenant=tenant,
        start=min(start, month_start),
        end=today,
        slicings=[("model", "provider"), ("config", "key", "status")],
        tags_from=start,
    )
    window = [r for r in by_model if r["day"] >= start]
    scoped = [r for r in by_scope if r["day"] >= start]
    sliced = {dim: regrouped(scoped, (dim,)) for dim in ("config", "key", "status")}
    days = [start + timedelta(days=i) for i in range(DAYS)]
    labels = dimension_labels(tenant=tenant)
    providers = sorted(
        totals_by(window, "provider").items(), key=lambda kv: (-kv[1]["cost"], str(kv[0]))
    )
    top_tags = sorted(tags, key=lambda r: (-r["cost"], -r["requests"], r["tag"]))[:5]
    return {
        "start": start,
        "today": today,
        "timezone": tenant.timezone,
        "spend_today": money_quantize(sum((r["cost"] for r in by_model if r["day"] == today), 0)),
        "spend_month": money_quantize(
            sum((r["cost"] for r in by_model if r["day"] >= month_start), 0)
        ),
        "kpis": _kpis(sliced["status"]),
        "saved": money_quantize(saved_between(tenant=tenant, start=start, end=today)),
        "chart": {
            "days": [d.isoformat() for d in days],
            "by": {
                "model": _stacked(window, days, "model", labels["model"]),
                "provider": _stacked(window, days, "provider", labels["provider"]),
                "config": _stacked(sliced["config"], days, "config", labels["config"]),
                "key": _stacked(sliced["key"], days, "key", labels["key"]),
            },
            "providers": {
                "labels": [_label(name, {}) for name, _ in providers],
                "data": [money_text(money_quantize(v["cost"]), min_places=2) for _, v in providers],
            },
        },
        "latency": latency_by_model(tenant=tenant),
        "top_keys": _top_keys(sliced["key"], labels["key"]),
        "top_tags": top_tags,
        "top_users": top_end_users(tenant=tenant, start=start, end=today),
        "budgets": budget_lines(tenant=tenant, by_scope=by_scope),
    }
