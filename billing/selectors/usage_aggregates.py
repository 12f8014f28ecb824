"""Usage aggregates: requests, tokens and cost per day, month, model, provider, config, key or
tag between two local days, computed by the database (GROUP BY) in the tenant's time zone.

Final days (through the tenant's rollup watermark) are read from the rollups, the days after it
from the raw events; usage_aggregate makes that choice and merges the two. The raw events' groups
are kept between reads and topped up with the events that arrived since (billing/selectors/
open_day.py, the same mechanism as the console's dashboard).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncMonth

from billing.models import DailyTagSetRollup
from billing.selectors.open_day import open_day_rows
from billing.selectors.rollup_rows import rollup_rows
from billing.selectors.rollup_state import rollup_watermark
from billing.selectors.usage_events import local_range, usage_event_list
from billing.selectors.usage_filters import UsageFilters
from billing.sql import tags_expanded
from core.money import money_quantize
from llm.models import RoutingConfig
from tenants.models import TenantApiKey

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import date
    from typing import Any

    from django.db.models import QuerySet

    from tenants.models import Tenant

GROUP_BY = ("day", "month", "model", "provider", "config", "key", "tag", "user")
METRICS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
)
TOKEN_METRICS = METRICS[1:-1]


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
    watermark = rollup_watermark(tenant=tenant, filters=f, group_by=group_by)
    if watermark is not None and watermark >= start:
        closed = min(watermark, end)
    open_days = functools.partial(
        _open_days, tenant=tenant, end=end, group_by=group_by, filters=f, watermark=watermark
    )
    if closed is None:
        return open_days(start=start)
    parts = [
        _rollup_aggregate(tenant=tenant, start=start, end=closed, group_by=group_by, filters=f)
    ]
    recent = None
    if closed < end:
        recent = open_days(start=closed + timedelta(days=1))
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


_TOTALS = "_totals"  # the open days' totals, kept as one more group among their rows


def _open_days(
    *,
    tenant: Tenant,
    start: date,
    end: date,
    group_by: str,
    filters: UsageFilters,
    watermark: date | None,
) -> dict[str, Any]:
    """`_event_aggregate` of [start, end], kept and topped up with the newer events."""

    def read(after: int | None, upto: int | None) -> list[dict]:
        part = _event_aggregate(
            tenant=tenant,
            start=start,
            end=end,
            group_by=group_by,
            filters=filters,
            ids=(after, upto),
        )
        return [*part["results"], {_TOTALS: True, **part["totals"]}]

    digest = hashlib.sha256(repr(filters).encode()).hexdigest()[:16]
    rows = open_day_rows(
        tenant=tenant,
        start=start,
        end=end,
        what=f"aggregate:{group_by}:{digest}",
        watermark=watermark,
        measures=METRICS,
        read=read,
    )
    totals = {metric: 0 for metric in METRICS}
    for row in rows:
        if row.get(_TOTALS):
            totals = {metric: row[metric] for metric in METRICS}
    results = _merge([[row for row in rows if not row.get(_TOTALS)]], group_by=group_by)
    return {"results": results, "totals": _clean(totals)}


def _metrics() -> dict[str, Any]:
    return {
        "requests": Count("id"),
        "input_tokens": Coalesce(Sum("input_tokens"), 0),
        "output_tokens": Coalesce(Sum("output_tokens"), 0),
        "cached_tokens": Coalesce(Sum("cached_tokens"), 0),
        "cache_write_tokens": Coalesce(Sum("cache_write_tokens"), 0),
        "reasoning_tokens": Coalesce(Sum("reasoning_tokens"), 0),
        "cost_usd": Sum("cost_usd"),
    }


def _clean(row: dict) -> dict:
    row["cost_usd"] = money_quantize(row.get("cost_usd"))
    for field in METRICS[:-1]:
        row[field] = int(row.get(field) or 0)
    return row


def _tag_rows(qs: QuerySet) -> list[dict]:
    """Usage per tag: an event with several tags counts once under each of them. `qs` is the
    filtered events, or tag-set rollup rows (which carry their request count). It is the FROM
    source (not `id IN (...)`, a semi-join over every matching id)."""
    by_rollup = qs.model is DailyTagSetRollup
    columns = ["tags", *TOKEN_METRICS, "cost_usd"]
    rows_sql, ids_params = (
        qs.order_by().values(*columns, *(["requests"] if by_rollup else [])).query.sql_with_params()
    )
    source, tag = tags_expanded(rows_sql=rows_sql, alias="e")
    requests = "SUM(e.requests)" if by_rollup else "COUNT(*)"
    sums = ", ".join(f"SUM(e.{column})" for column in (*TOKEN_METRICS, "cost_usd"))
    sql = (
        f"SELECT {tag}, {requests}, {sums} "  # noqa: S608
        f"FROM {source} GROUP BY {tag} ORDER BY {tag}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ids_params)
        fetched = cursor.fetchall()
    return [
        _clean(dict(zip(("tag", *METRICS), row, strict=True)))
        for row in fetched
        if row[0] is not None
    ]


def _rollup_sums() -> dict[str, Any]:
    return {
        "requests": Sum("requests"),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cached_tokens": Sum("cached_tokens"),
        "cache_write_tokens": Sum("cache_write_tokens"),
        "reasoning_tokens": Sum("reasoning_tokens"),
        "cost_usd": Sum("cost_usd"),
    }


def _rollup_totals(*, tenant: Tenant, start: date, end: date, filters: UsageFilters) -> dict:
    qs = rollup_rows(tenant=tenant, start=start, end=end, filters=filters, by_tag=False)
    return _clean(qs.aggregate(**_rollup_sums()))


_GROUP_KEYS = {
    "day": ("day",),
    "month": ("month",),
    "model": ("model",),
    "provider": ("provider",),
    "config": ("config",),
    "key": ("key",),
    "tag": ("tag",),
    "user": ("user",),
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


_ROLLUP_COLUMNS = {"month": "day", "config": "config_ref", "key": "api_key_ref", "user": "end_user"}


def _rollup_aggregate(
    *, tenant: Tenant, start: date, end: date, group_by: str, filters: UsageFilters
) -> list[dict]:
    """Groups of [start, end] (final local days) from the daily, tag or tag-set rollups."""
    qs = rollup_rows(
        tenant=tenant,
        start=start,
        end=end,
        filters=filters,
        by_tag=group_by == "tag",
        by_user=group_by == "user",
    )
    if qs.model is DailyTagSetRollup:
        return _tag_rows(qs)
    column = _ROLLUP_COLUMNS.get(group_by, group_by)
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
    *,
    tenant: Tenant,
    start: date,
    end: date,
    group_by: str,
    filters: UsageFilters,
    ids: tuple[int | None, int | None] = (None, None),
) -> dict[str, Any]:
    """Groups and totals of [start, end] (local days) from the raw events; with `ids` (after,
    upto), only the events with after < id <= upto (None: no bound)."""
    start_at, end_at = local_range(tenant=tenant, start=start, end=end)
    qs = usage_event_list(tenant=tenant, start=start_at, end=end_at, filters=filters).order_by()
    after, upto = ids
    if after is not None:
        qs = qs.filter(id__gt=after)
    if upto is not None:
        qs = qs.filter(id__lte=upto)
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
    elif group_by == "user":
        grouped = qs.values("end_user")
        order = ("end_user",)
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
        elif group_by == "user":
            out["user"] = row.pop("end_user")
        else:
            out[group_by] = row.pop(group_by)
        out.update(_clean(row))
        results.append(out)
    if group_by in ("config", "key"):
        results.sort(key=_sort_key(group_by))  # nulls last on every database
    return {"results": results, "totals": totals}
