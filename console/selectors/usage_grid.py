"""Usage per local day and a few dimensions (model, provider, config, key, status), for a tenant
and a range of local days: the final days from the daily rollups, the days after the rollup
watermark from the raw events (the open day, usually). One small GROUP BY per source and
slicing, so a page reads a few hundred rows whatever the number of events.
"""

from __future__ import annotations

import contextlib
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


def _watermark(tenant: Tenant) -> date | None:
    row = RollupState.objects.filter(tenant=tenant).values_list("rolled_through", "layout").first()
    if row is None or row[1] < _STATUS_LAYOUT:
        return None
    return row[0]


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
    watermark = _watermark(tenant)
    parts: list[list[dict]] = [[] for _ in slicings]
    tags: dict[str, dict] = defaultdict(lambda: {"requests": 0, "cost": Decimal(0)})
    events_from = start
    if watermark is not None and watermark >= start:
        last = min(watermark, end)
        for rows, dims in zip(parts, slicings, strict=True):
            rows += _from_rollups(tenant=tenant, start=start, end=last, dims=dims)
        if tags_from is not None and tags_from <= last:
            first = max(tags_from, start)
            _add_tags(tags, _tags_from_rollups(tenant=tenant, start=first, end=last))
        events_from = last + timedelta(days=1)
    if events_from <= end:
        every = tuple(dict.fromkeys(d for dims in slicings for d in dims))
        grouped = (*every, "tags") if tags_from is not None else every
        events = _from_events(tenant=tenant, start=events_from, end=end, dims=grouped)
        for rows in parts:
            rows += [dict(row) for row in events]
        if tags_from is not None:
            _add_tags(tags, _tags_of_events([r for r in events if r["day"] >= tags_from]))
    slices = [_merged(rows, dims) for rows, dims in zip(parts, slicings, strict=True)]
    return slices, [{"tag": name, **values} for name, values in tags.items()]


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
    """Rollup and event rows of one group added together (0 refs and NULLs are one "none")."""
    out: dict[tuple, dict] = {}
    for row in rows:
        for dim in ("config", "key"):
            if dim in row:
                row[dim] = row[dim] or None
        key = (row["day"], *(row[d] for d in dims))
        into = out.setdefault(
            key,
            {"day": row["day"], **{d: row[d] for d in dims}}
            | {"requests": 0, "tokens": 0, "billed": 0, "cost": Decimal(0)},
        )
        for measure in ("requests", "tokens", "billed", "cost"):
            into[measure] += row[measure] or 0
    return list(out.values())


def _named(rows, dims: tuple[str, ...]) -> list[dict]:
    """Rows with each `g_<dim>` alias back under its dimension's name."""
    out = []
    for row in rows:
        for dim in dims:
            row[dim] = row.pop(f"g_{dim}")
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


def _from_events(*, tenant: Tenant, start: date, end: date, dims: tuple[str, ...]) -> list[dict]:
    lo, hi = local_range(tenant=tenant, start=start, end=end)
    names = {f"g_{d}": F(COLUMNS[d][1]) for d in dims}
    qs = (
        UsageEvent.objects.filter(tenant=tenant, created_at__gte=lo, created_at__lt=hi)
        .annotate(local_day=TruncDate("created_at", tzinfo=tenant.tzinfo), **names)
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
    return _merged([dict(row) for row in rows], dims)
