"""Reads of usage, budgets and exports. Every query is scoped to one tenant (`tenant=None` only
where platform staff may read across tenants, and it says so).

Aggregates are computed by the database (GROUP BY), day and month in the tenant's time zone.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, TruncDate, TruncMonth

from billing.models import BillingExport, Budget, UsageEvent
from tenants.models import Tenant

GROUP_BY = ("day", "month", "model", "provider", "config", "key", "tag")
METRICS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd")
_COST_PLACES = Decimal("0.0000000001")


@dataclass(frozen=True)
class UsageFilters:
    model: str | None = None
    provider: str | None = None
    tag: str | None = None
    status: str | None = None
    config_id: int | None = None
    api_key_id: int | None = None


def local_range(*, tenant: Tenant, start: date, end: date) -> tuple[datetime, datetime]:
    """[local midnight of start, local midnight after end) in the tenant's time zone."""
    tz = tenant.tzinfo
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def _json_list_contains(qs: QuerySet, *, field: str, value: str) -> QuerySet:
    if connection.vendor == "postgresql":
        return qs.filter(**{f"{field}__contains": [value]})
    table = qs.model._meta.db_table
    sql = f'SELECT t.id FROM "{table}" t, json_each(t."{field}") j WHERE j.value = %s'  # noqa: S608
    return qs.filter(id__in=RawSQL(sql, [value]))  # noqa: S611 (identifiers from the model)


def usage_event_list(
    *,
    tenant: Tenant,
    start: datetime | None = None,
    end: datetime | None = None,
    filters: UsageFilters | None = None,
) -> QuerySet[UsageEvent]:
    """The tenant's raw events, newest first (a stable order: created_at, then id)."""
    qs = UsageEvent.objects.filter(tenant=tenant)
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lt=end)
    f = filters or UsageFilters()
    if f.model:
        qs = qs.filter(model=f.model)
    if f.provider:
        qs = qs.filter(provider=f.provider)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.config_id is not None:
        qs = qs.filter(config_id=f.config_id)
    if f.api_key_id is not None:
        qs = qs.filter(api_key_id=f.api_key_id)
    if f.tag:
        qs = _json_list_contains(qs, field="tags", value=f.tag)
    return qs.select_related("config", "api_key").order_by("-created_at", "-id")


def _metrics() -> dict[str, Any]:
    return {
        "requests": Count("id"),
        "input_tokens": Coalesce(Sum("input_tokens"), 0),
        "output_tokens": Coalesce(Sum("output_tokens"), 0),
        "cached_tokens": Coalesce(Sum("cached_tokens"), 0),
        "cost_usd": Sum("cost_usd"),
    }


def _money(value: Any) -> Decimal:
    if value is None:
        return Decimal(0).quantize(_COST_PLACES)
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(_COST_PLACES)


def _clean(row: dict) -> dict:
    row["cost_usd"] = _money(row.get("cost_usd"))
    for field in ("requests", "input_tokens", "output_tokens", "cached_tokens"):
        row[field] = int(row.get(field) or 0)
    return row


def _tag_rows(qs: QuerySet[UsageEvent]) -> list[dict]:
    """Usage per tag: an event with several tags counts once under each of them."""
    ids_sql, ids_params = qs.order_by().values("id").query.sql_with_params()
    if connection.vendor == "postgresql":
        source = (
            "billing_usageevent e CROSS JOIN LATERAL jsonb_array_elements_text(e.tags) AS t(tag)"
        )
        guard = "jsonb_typeof(e.tags) = 'array'"
        tag = "t.tag"
    else:
        source = "billing_usageevent e, json_each(e.tags) t"
        guard = "json_type(e.tags) = 'array'"
        tag = "t.value"
    sql = (
        f"SELECT {tag}, COUNT(*), SUM(e.input_tokens), SUM(e.output_tokens), "  # noqa: S608
        f"SUM(e.cached_tokens), SUM(e.cost_usd) FROM {source} "
        f"WHERE {guard} AND e.id IN ({ids_sql}) GROUP BY {tag} ORDER BY {tag}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ids_params)
        fetched = cursor.fetchall()
    return [
        _clean(dict(zip(("tag", *METRICS), row, strict=True)))
        for row in fetched
        if row[0] is not None
    ]


def usage_aggregate(
    *,
    tenant: Tenant,
    start: date,
    end: date,
    group_by: str,
    filters: UsageFilters | None = None,
) -> dict[str, Any]:
    """`{"results": [...one row per group...], "totals": {...}}` for [start, end] (local days).

    Rows carry the group's value under the group's name (`day`, `month`, `model`, `provider`,
    `config`, `key`, `tag`) plus requests, tokens and cost (Decimal)."""
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {GROUP_BY}")
    start_at, end_at = local_range(tenant=tenant, start=start, end=end)
    qs = usage_event_list(tenant=tenant, start=start_at, end=end_at, filters=filters).order_by()
    totals = _clean(dict(qs.aggregate(**_metrics())))
    tz = tenant.tzinfo
    if group_by == "tag":
        return {"results": _tag_rows(qs), "totals": totals}
    if group_by == "day":
        grouped = qs.annotate(bucket=TruncDate("created_at", tzinfo=tz)).values("bucket")
        order: Iterable[str] = ("bucket",)
    elif group_by == "month":
        grouped = qs.annotate(bucket=TruncMonth("created_at", tzinfo=tz)).values("bucket")
        order = ("bucket",)
    elif group_by == "config":
        grouped = qs.values("config_id", "config__name")
        order = ("config__name", "config_id")
    elif group_by == "key":
        grouped = qs.values("api_key_id", "api_key__name", "api_key__prefix")
        order = ("api_key__name", "api_key_id")
    else:
        grouped = qs.values(group_by)
        order = (group_by,)
    results = []
    for row in grouped.annotate(**_metrics()).order_by(*order):
        out: dict[str, Any] = {}
        if group_by == "day":
            out["day"] = row.pop("bucket").isoformat()
        elif group_by == "month":
            bucket = row.pop("bucket")
            if isinstance(bucket, datetime):
                bucket = bucket.astimezone(tz) if bucket.tzinfo else bucket
            out["month"] = bucket.strftime("%Y-%m")
        elif group_by == "config":
            out["config"] = row.pop("config_id")
            out["config_name"] = row.pop("config__name")
        elif group_by == "key":
            out["key"] = row.pop("api_key_id")
            out["key_name"] = row.pop("api_key__name")
            out["key_prefix"] = row.pop("api_key__prefix")
        else:
            out[group_by] = row.pop(group_by)
        out.update(_clean(row))
        results.append(out)
    return {"results": results, "totals": totals}


def budget_list(*, tenant: Tenant | None) -> QuerySet[Budget]:
    qs = Budget.objects.select_related("tenant", "config", "api_key")
    if tenant is not None:
        return qs.filter(tenant=tenant).order_by("scope", "period", "id")
    return qs.order_by("tenant__slug", "scope", "period", "id")


def export_list(*, tenant: Tenant | None) -> QuerySet[BillingExport]:
    """A tenant's exports; platform staff (tenant=None) also see all-tenant exports."""
    qs = BillingExport.objects.select_related("tenant").order_by("-month", "-version", "-id")
    return qs.filter(tenant=tenant) if tenant is not None else qs
