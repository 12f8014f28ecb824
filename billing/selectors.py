"""Reads of usage, budgets and exports. Every query is scoped to one tenant (`tenant=None` only
where platform staff may read across tenants, and it says so).

Aggregates are computed by the database (GROUP BY), day and month in the tenant's time zone.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, TruncDate, TruncMonth

from billing.models import (
    ROLLUP_LAYOUT,
    BillingExport,
    Budget,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    RollupState,
    UsageEvent,
)
from billing.sql import tags_expanded
from core.money import money_quantize
from llm.models import RoutingConfig
from tenants.models import Tenant, TenantApiKey

GROUP_BY = ("day", "month", "model", "provider", "config", "key", "tag")
METRICS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd")


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
    qs = qs.select_related("config", "api_key").order_by("-created_at", "-id")
    return _CountedFromRollups.wrap(qs, tenant=tenant, start=start, end=end, filters=f)


class _CountedFromRollups(QuerySet):
    """The events list, whose count() (a paginator's) adds the final days' request counts from
    the daily (or, with a tag filter, tag) rollups to a count of the events after them, instead
    of counting every event. Days retention may have purged are counted from the events, like
    the page rows."""

    _count_args: dict | None = None

    @classmethod
    def wrap(cls, qs: QuerySet, **count_args) -> QuerySet:
        wrapped = cls(model=qs.model, query=qs.query.chain(), using=qs._db, hints=qs._hints)
        wrapped._count_args = count_args
        return wrapped

    def _clone(self):
        clone = super()._clone()
        clone._count_args = self._count_args
        return clone

    def count(self) -> int:
        if self._result_cache is None and self._count_args is not None:
            fast = _fast_event_count(base=self, **self._count_args)
            if fast is not None:
                return fast
        return super().count()


def _fast_event_count(
    *,
    base: QuerySet,
    tenant: Tenant,
    start: datetime | None,
    end: datetime | None,
    filters: UsageFilters,
) -> int | None:
    """None when the range does not fall on local midnights (then rollups cannot help)."""
    from core.calendar import local_midnight

    tz = tenant.tzinfo
    for bound in (start, end):
        if bound is not None and bound.astimezone(tz).time() != time.min:
            return None
    watermark = _watermark(tenant=tenant, filters=filters)
    if watermark is None:
        return None
    first = start.astimezone(tz).date() if start is not None else None
    horizon = datetime.now(tz).date() - timedelta(days=retention_days() - 1)
    first = max(first, horizon) if first is not None else horizon
    last = watermark
    if end is not None:
        last = min(last, end.astimezone(tz).date() - timedelta(days=1))
    if last < first:
        return None
    rolled = _rollup_rows(tenant=tenant, start=first, end=last, filters=filters, by_tag=False)
    counted = rolled.aggregate(n=Sum("requests"))["n"] or 0
    lo, hi = local_midnight(day=first, tz=tz), local_midnight(day=last + timedelta(days=1), tz=tz)
    rest = QuerySet(model=base.model, query=base.query.chain(), using=base._db).filter(
        Q(created_at__lt=lo) | Q(created_at__gte=hi)
    )
    return counted + rest.count()


def _metrics() -> dict[str, Any]:
    return {
        "requests": Count("id"),
        "input_tokens": Coalesce(Sum("input_tokens"), 0),
        "output_tokens": Coalesce(Sum("output_tokens"), 0),
        "cached_tokens": Coalesce(Sum("cached_tokens"), 0),
        "cost_usd": Sum("cost_usd"),
    }


def _clean(row: dict) -> dict:
    row["cost_usd"] = money_quantize(row.get("cost_usd"))
    for field in ("requests", "input_tokens", "output_tokens", "cached_tokens"):
        row[field] = int(row.get(field) or 0)
    return row


def _tag_rows(qs: QuerySet) -> list[dict]:
    """Usage per tag: an event with several tags counts once under each of them. `qs` is the
    filtered events, or tag-set rollup rows (which carry their request count). It is the FROM
    source (not `id IN (...)`, a semi-join over every matching id)."""
    by_rollup = qs.model is DailyTagSetRollup
    columns = ["tags", "input_tokens", "output_tokens", "cached_tokens", "cost_usd"]
    rows_sql, ids_params = (
        qs.order_by().values(*columns, *(["requests"] if by_rollup else [])).query.sql_with_params()
    )
    source, tag = tags_expanded(rows_sql=rows_sql, alias="e")
    requests = "SUM(e.requests)" if by_rollup else "COUNT(*)"
    sql = (
        f"SELECT {tag}, {requests}, SUM(e.input_tokens), SUM(e.output_tokens), "  # noqa: S608
        f"SUM(e.cached_tokens), SUM(e.cost_usd) FROM {source} GROUP BY {tag} ORDER BY {tag}"
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
    `config`, `key`, `tag`) plus requests, tokens and cost (Decimal).

    Final days (through the tenant's rollup watermark) are read from the daily rollups (the
    tag rollups for `group_by=tag` or a tag filter, the tag-set rollups for both: the tags that
    occur together with one), the days after it from the raw events: the same sums, without
    scanning millions of events."""
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {GROUP_BY}")
    f = filters or UsageFilters()
    closed = None
    watermark = _watermark(tenant=tenant, filters=f, group_by=group_by)
    if watermark is not None and watermark >= start:
        closed = min(watermark, end)
    if closed is None:
        return _event_aggregate(tenant=tenant, start=start, end=end, group_by=group_by, filters=f)
    parts = [
        _rollup_aggregate(tenant=tenant, start=start, end=closed, group_by=group_by, filters=f)
    ]
    recent = None
    if closed < end:
        recent = _event_aggregate(
            tenant=tenant, start=closed + timedelta(days=1), end=end, group_by=group_by, filters=f
        )
        parts.append(recent["results"])
    results = _merge(parts, group_by=group_by)
    if group_by == "tag":
        # An event with several tags is in several rows and an untagged one in none: the
        # totals count each event once, from the daily rollups.
        rows = [_rollup_totals(tenant=tenant, start=start, end=closed, filters=f)]
        rows += [recent["totals"]] if recent is not None else []
    else:
        rows = results
    totals = _clean({metric: sum(row[metric] for row in rows) for metric in METRICS})
    return {"results": results, "totals": totals}


def rolled_through(*, tenant: Tenant) -> date | None:
    """The tenant's last local day whose daily rollup is final (None: none yet)."""
    return (
        RollupState.objects.filter(tenant=tenant).values_list("rolled_through", flat=True).first()
    )


def _watermark(*, tenant: Tenant, filters: UsageFilters, group_by: str = "") -> date | None:
    """rolled_through, or None while the read needs buckets (status, tags, tag sets) that the
    tenant's final days have not been rolled up with yet (the next rollup run re-rolls them)."""
    row = RollupState.objects.filter(tenant=tenant).values_list("rolled_through", "layout").first()
    if row is None:
        return None
    watermark, layout = row
    if group_by == "tag" and filters.tag:
        needs = ROLLUP_LAYOUT  # 2: tag sets
    elif group_by == "tag" or filters.tag or filters.status:
        needs = 1
    else:
        needs = 0
    return watermark if layout >= needs else None


def _rollup_rows(
    *, tenant: Tenant, start: date, end: date, filters: UsageFilters, by_tag: bool
) -> QuerySet:
    """Daily rollup rows of [start, end] matching the filters; tag rollup rows when grouping by
    tag or filtering on one; tag-set rollup rows for both."""
    if by_tag and filters.tag:
        model = DailyTagSetRollup
    elif by_tag or filters.tag:
        model = DailyTagRollup
    else:
        model = DailyRollup
    qs = model.objects.filter(tenant=tenant, day__gte=start, day__lte=end)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.provider:
        qs = qs.filter(provider=filters.provider)
    if filters.config_id is not None:
        qs = qs.filter(config_ref=filters.config_id)
    if filters.api_key_id is not None:
        qs = qs.filter(api_key_ref=filters.api_key_id)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.tag and model is DailyTagSetRollup:
        qs = _json_list_contains(qs, field="tags", value=filters.tag)
    elif filters.tag:
        qs = qs.filter(tag=filters.tag)
    return qs


def _rollup_sums() -> dict[str, Any]:
    return {
        "requests": Sum("requests"),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cached_tokens": Sum("cached_tokens"),
        "cost_usd": Sum("cost_usd"),
    }


def _rollup_totals(*, tenant: Tenant, start: date, end: date, filters: UsageFilters) -> dict:
    qs = _rollup_rows(tenant=tenant, start=start, end=end, filters=filters, by_tag=False)
    return _clean(qs.aggregate(**_rollup_sums()))


_GROUP_KEYS = {
    "day": ("day",),
    "month": ("month",),
    "model": ("model",),
    "provider": ("provider",),
    "config": ("config",),
    "key": ("key",),
    "tag": ("tag",),
}


def _sort_key(group_by: str):
    """Nulls last, like PostgreSQL's ascending order."""
    if group_by == "config":
        return lambda r: (r["config_name"] is None, r["config_name"] or "", r["config"] or 0)
    if group_by == "key":
        return lambda r: (r["key_name"] is None, r["key_name"] or "", r["key"] or 0)
    return lambda r: r[group_by]


def _merge(parts: list[list[dict]], *, group_by: str) -> list[dict]:
    merged: dict[tuple, dict] = {}
    for rows in parts:
        for row in rows:
            key = tuple(row[name] for name in _GROUP_KEYS[group_by])
            if key not in merged:
                merged[key] = dict(row)
                continue
            for metric in METRICS:
                merged[key][metric] += row[metric]
    return sorted(merged.values(), key=_sort_key(group_by))


def _rollup_aggregate(
    *, tenant: Tenant, start: date, end: date, group_by: str, filters: UsageFilters
) -> list[dict]:
    """Groups of [start, end] (final local days) from the daily, tag or tag-set rollups."""
    qs = _rollup_rows(
        tenant=tenant, start=start, end=end, filters=filters, by_tag=group_by == "tag"
    )
    if qs.model is DailyTagSetRollup:
        return _tag_rows(qs)
    column = {"month": "day", "config": "config_ref", "key": "api_key_ref"}.get(group_by, group_by)
    rows = qs.values(column).annotate(**_rollup_sums()).order_by()
    out = []
    names: dict[int, Any] = {}
    if group_by == "config":
        names = dict(RoutingConfig.objects.filter(tenant=tenant).values_list("pk", "name"))
    elif group_by == "key":
        names = {
            pk: (name, prefix)
            for pk, name, prefix in TenantApiKey.objects.filter(tenant=tenant).values_list(
                "pk", "name", "prefix"
            )
        }
    for row in rows:
        value = row.pop(column)
        head: dict[str, Any]
        if group_by == "day":
            head = {"day": value.isoformat()}
        elif group_by == "month":
            head = {"month": value.strftime("%Y-%m")}
        elif group_by == "config":
            # A deleted config is cleared (NULL) on its events: the same "no config" group.
            ref = value if value in names else None
            head = {"config": ref, "config_name": names.get(ref)}
        elif group_by == "key":
            ref = value if value in names else None
            name, prefix = names.get(ref, (None, None))
            head = {"key": ref, "key_name": name, "key_prefix": prefix}
        else:
            head = {group_by: value}
        head.update(_clean(row))
        out.append(head)
    return out


def _event_aggregate(
    *, tenant: Tenant, start: date, end: date, group_by: str, filters: UsageFilters
) -> dict[str, Any]:
    """Groups and totals of [start, end] (local days) from the raw events."""
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
    if group_by in ("config", "key"):
        results.sort(key=_sort_key(group_by))  # nulls last on every database
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


def retention_days() -> int:
    """How many days raw usage events are kept (and rolled up) before the purge deletes them."""
    return int(getattr(settings, "TOLLGATE_USAGE_RETENTION_DAYS", 400))
