"""Usage per local day and a few dimensions (model, provider, config, key, status), for a tenant
and a range of local days: the final days from the daily rollups, the days after the rollup
watermark from the raw events (the open day, usually). One small GROUP BY per source and
slicing, so a page reads a few hundred rows whatever the number of events.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from billing.models import (
    NOT_BILLED_TOKEN_STATUSES,
    DailyRollup,
    DailyTagRollup,
    RollupState,
    UsageEvent,
)
from billing.selectors.open_day import final_days_rows, open_day_rows
from billing.selectors.usage_events import local_range

if TYPE_CHECKING:
    from tenants.models import Tenant

# Status is a rollup dimension from layout 1 on (billing/models/rollups.py).
_STATUS_LAYOUT = 1
# A slicing's name -> (rollup column, event column).
COLUMNS = {
    "model": ("model", "model"),
    "provider": ("provider", "provider"),
    "config": ("config_ref", "config_id"),
    "key": ("api_key_ref", "api_key_id"),
    "status": ("status", "status"),
    "tags": ("tags", "tags"),  # events only: tag rollups have a row per tag instead
}


_BILLED = ~Q(status__in=NOT_BILLED_TOKEN_STATUSES)
MEASURES = ("requests", "tokens", "billed", "cost")


@contextlib.contextmanager
def _hash_aggregate():
    """On PostgreSQL, room for the open days' GROUP BY to hash in memory: its estimate (a group
    per event) would otherwise make it sort tens of thousands of events on disk first, for a
    few hundred groups (bench/README.md, "Console pages")."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '16MB'")
        yield


def _watermark(tenant: Tenant) -> tuple[date | None, int]:
    row = RollupState.objects.filter(tenant=tenant).values_list("rolled_through", "layout").first()
    if row is None or row[1] < _STATUS_LAYOUT:
        return None, 0
    return row


def usage_by_day(
    *,
    tenant: Tenant,
    start: date,
    end: date,
    slicings: list[tuple[str, ...]],
    tags_from: date | None = None,
) -> tuple[list[list[dict]], list[dict]]:
    """For each slicing (a tuple of dimensions), rows `{"day", <each dim>, "requests",
    "tokens", "billed" (tokens that count against budgets), "cost"}` for [start, end] (local
    days, inclusive); config and key are ids (None: none). The rollups answer each slicing
    with its own GROUP BY; the open days' events are grouped once by every dimension asked
    for, and folded into each slicing here. With `tags_from`, also `{"tag", "requests",
    "cost"}` per tag over [tags_from, end] (an event counts under each of its tags), from the
    same pass over the events."""
    watermark, layout = _watermark(tenant)
    parts: list[list[dict]] = [[] for _ in slicings]
    tags: dict[str, dict] = defaultdict(lambda: {"requests": 0, "cost": Decimal(0)})
    events_from = start
    if watermark is not None and watermark >= start:
        last = min(watermark, end)
        kept = functools.partial(final_days_rows, tenant=tenant, watermark=watermark, layout=layout)
        for rows, dims in zip(parts, slicings, strict=True):
            rows += kept(
                what=f"{start}:{last}:{','.join(dims)}",
                read=lambda dims=dims: _from_rollups(
                    tenant=tenant, start=start, end=last, dims=dims
                ),
            )
        if tags_from is not None and tags_from <= last:
            first = max(tags_from, start)
            tag_rows = kept(
                what=f"tags:{first}:{last}",
                read=lambda: _tags_from_rollups(tenant=tenant, start=first, end=last),
            )
            _add_tags(tags, tag_rows)
        events_from = last + timedelta(days=1)
    if events_from <= end:
        every = tuple(dict.fromkeys(d for dims in slicings for d in dims))
        grouped = (*every, "tags") if tags_from is not None else every
        events = open_day_rows(
            tenant=tenant,
            start=events_from,
            end=end,
            what=",".join(grouped),
            watermark=watermark,
            measures=MEASURES,
            read=lambda after, upto: _from_events(
                tenant=tenant, start=events_from, end=end, dims=grouped, ids=(after, upto)
            ),
        )
        for rows in parts:
            rows += events
        if tags_from is not None:
            _add_tags(tags, _tags_of_events([r for r in events if r["day"] >= tags_from]))
    slices = [_merged(rows, dims) for rows, dims in zip(parts, slicings, strict=True)]
    return slices, [{"tag": name, **values} for name, values in tags.items()]


def saved_between(*, tenant: Tenant, start: date, end: date) -> Decimal:
    """Cost avoided by cache hits over [start, end] (local days). Not a rollup measure: the final
    days' sum (a partial index on `saved_usd > 0`) is kept under the watermark like a rollup
    read, the open days' topped up like their grouped events."""
    watermark, layout = _watermark(tenant)
    saved = Decimal(0)
    events_from = start
    if watermark is not None and watermark >= start:
        last = min(watermark, end)
        saved += final_days_rows(
            tenant=tenant,
            what=f"saved:{start}:{last}",
            watermark=watermark,
            layout=layout,
            read=lambda: _saved(tenant=tenant, start=start, end=last),
        )
        events_from = last + timedelta(days=1)
    if events_from <= end:
        rows = open_day_rows(
            tenant=tenant,
            start=events_from,
            end=end,
            what="saved",
            watermark=watermark,
            measures=("saved",),
            read=lambda after, upto: [
                {"saved": _saved(tenant=tenant, start=events_from, end=end, ids=(after, upto))}
            ],
        )
        saved += sum((row["saved"] for row in rows), Decimal(0))
    return saved


def _saved(
    *, tenant: Tenant, start: date, end: date, ids: tuple[int | None, int | None] = (None, None)
) -> Decimal:
    lo, hi = local_range(tenant=tenant, start=start, end=end)
    events = _between_ids(
        UsageEvent.objects.filter(
            tenant=tenant, created_at__gte=lo, created_at__lt=hi, saved_usd__gt=0
        ),
        ids,
    )
    return events.aggregate(s=Sum("saved_usd"))["s"] or Decimal(0)


def _between_ids(events, ids: tuple[int | None, int | None]):
    """Only the events with after < id <= upto (None: no bound)."""
    after, upto = ids
    if upto is not None:
        events = events.filter(id__lte=upto)
    if after is not None:
        events = events.filter(id__gt=after)
    return events


def _add_tags(into: dict, rows) -> None:
    for name, requests, cost in rows:
        into[name]["requests"] += requests or 0
        into[name]["cost"] += cost or 0


def _tags_from_rollups(*, tenant: Tenant, start: date, end: date) -> list[tuple]:
    return list(
        DailyTagRollup.objects.filter(tenant=tenant, day__gte=start, day__lte=end)
        .values("tag")
        .annotate(requests=Sum("requests"), cost=Sum("cost_usd"))
        .order_by()
        .values_list("tag", "requests", "cost")
    )


def _tags_of_events(rows: list[dict]) -> list[tuple]:
    """Each grouped row's tags array, expanded (not an array: no tags, as billing/sql.py)."""
    out = []
    for row in rows:
        if isinstance(row["tags"], list):
            out += [(t, row["requests"], row["cost"]) for t in row["tags"] if isinstance(t, str)]
    return out


def _merged(rows: list[dict], dims: tuple[str, ...]) -> list[dict]:
    """Rollup and event rows of one group added together. The rows are read, never changed:
    the same rows feed several slicings. (Sums in lists, dicts built once per group: this
    runs over a few thousand rows a dashboard load.)"""
    names = ("day", *dims)
    key_of = operator.itemgetter(*names) if dims else lambda row: (row["day"],)
    sums: dict[tuple, list] = {}
    for row in rows:
        key = key_of(row)
        into = sums.get(key)
        if into is None:
            sums[key] = [row["requests"], row["tokens"], row["billed"] or 0, row["cost"] or 0]
            continue
        into[0] += row["requests"]
        into[1] += row["tokens"]
        into[2] += row["billed"] or 0
        into[3] += row["cost"] or 0
    return [
        {
            **dict(zip(names, key, strict=True)),
            "requests": requests,
            "tokens": tokens,
            "billed": billed,
            "cost": Decimal(cost),
        }
        for key, (requests, tokens, billed, cost) in sums.items()
    ]


def _named(rows, dims: tuple[str, ...]) -> list[dict]:
    """Rows with each `g_<dim>` alias back under its dimension's name; the config and key refs
    0 (rollups) and NULL (events) both as None, one "none" group; no measure NULL."""
    out = []
    for row in rows:
        for dim in dims:
            value = row.pop(f"g_{dim}")
            row[dim] = (value or None) if dim in ("config", "key") else value
        row["requests"] = row["requests"] or 0
        row["tokens"] = row["tokens"] or 0
        out.append(row)
    return out


def _from_rollups(*, tenant: Tenant, start: date, end: date, dims: tuple[str, ...]) -> list[dict]:
    # Aliased: an annotation may not take a field's name (UsageEvent.config is its FK).
    names = {f"g_{d}": F(COLUMNS[d][0]) for d in dims}
    qs = (
        DailyRollup.objects.filter(tenant=tenant, day__gte=start, day__lte=end)
        .annotate(**names)
        .values("day", *names)
        .annotate(
            requests=Sum("requests"),
            tokens=Sum("input_tokens") + Sum("output_tokens"),
            billed=Sum("billed_tokens"),
            cost=Sum("cost_usd"),
        )
        .order_by()
    )
    return _named(qs, dims)


def _from_events(
    *,
    tenant: Tenant,
    start: date,
    end: date,
    dims: tuple[str, ...],
    ids: tuple[int | None, int | None] | None = None,
) -> list[dict]:
    """The range's events grouped by day and `dims`; with `ids` (after, upto), only the events
    with after < id <= upto (after None: no lower bound)."""
    lo, hi = local_range(tenant=tenant, start=start, end=end)
    names = {f"g_{d}": F(COLUMNS[d][1]) for d in dims}
    events = UsageEvent.objects.filter(tenant=tenant, created_at__gte=lo, created_at__lt=hi)
    events = _between_ids(events, ids or (None, None))
    qs = (
        events.annotate(local_day=TruncDate("created_at", tzinfo=tenant.tzinfo), **names)
        .values("local_day", *names)
        .annotate(
            requests=Count("id"),
            tokens=Coalesce(Sum("input_tokens"), 0) + Coalesce(Sum("output_tokens"), 0),
            billed=Sum(F("input_tokens") + F("output_tokens"), filter=_BILLED),
            cost=Sum("cost_usd"),
        )
        .order_by()
    )
    with _hash_aggregate():
        rows = _named(list(qs), dims)
    for row in rows:
        row["day"] = row.pop("local_day")
    return rows


def totals_by(rows: list[dict], dim: str) -> dict:
    """Cost and requests per value of `dim` over all days."""
    out: dict = defaultdict(lambda: {"requests": 0, "cost": Decimal(0)})
    for row in rows:
        out[row[dim]]["requests"] += row["requests"]
        out[row[dim]]["cost"] += row["cost"]
    return out


def regrouped(rows: list[dict], dims: tuple[str, ...]) -> list[dict]:
    """Rows of a finer slicing summed into a coarser one (e.g. (config, key, status) -> key)."""
    return _merged(rows, dims)
