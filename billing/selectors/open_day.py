"""Usage reads kept between page loads and API calls (bench/README.md, "Console pages"): the
open days' grouped events, topped up with what arrived since, and the final days' rollup
reads, kept under the rollup watermark. The console's dashboard (console/selectors/usage_grid.py)
and every usage aggregate (the explorer, GET /api/v1/usage/) read through here.

The days after the rollup watermark (usually today) are the only range a page reads from raw
events, and at a busy tenant's evening that is tens of thousands of rows per load. Each read
here remembers its rows with the highest event id it covered; the next read within
`REFRESH_SECONDS` groups only the events with a higher id (the primary key's index: the few
that arrived since) and adds them in. Every `REFRESH_SECONDS` the whole range is read again,
which bounds what an id committed out of order (a concurrent ingestion's lower ids landing
after a higher one was read) can leave out. A new rollup watermark is a new key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from billing.models import UsageEvent

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import date

    from tenants.models import Tenant

REFRESH_SECONDS = 30  # TOLLGATE_CONSOLE_OPEN_DAY_SECONDS; 0: every load reads everything
FINAL_DAYS_SECONDS = 300


def _refresh_seconds() -> float:
    return float(getattr(settings, "TOLLGATE_CONSOLE_OPEN_DAY_SECONDS", REFRESH_SECONDS))


def _tenant_key(tenant: Tenant) -> str:
    """The tenant's id and creation time: a tenant made again with a reused id (a test's
    rollback, a restored database) never finds the kept reads of the one before."""
    return f"{tenant.pk}.{tenant.created_at.timestamp():.6f}"


def _latest() -> tuple[int, str]:
    """The newest event's id and request id (the primary key's index: one row)."""
    row = UsageEvent.objects.order_by("-id").values_list("id", "request_id").first()
    return row or (0, "")


def _still_there(kept: dict, latest: tuple[int, str]) -> bool:
    """Is the event a kept read ended at still the same row? (Not when the events were replaced,
    e.g. a database restored, or a test's rolled-back ids reused, with the cache kept.)"""
    if kept["upto"] == latest[0]:
        return kept["upto_request_id"] == latest[1]
    if kept["upto"] > latest[0]:
        return False
    request_id = UsageEvent.objects.filter(pk=kept["upto"]).values_list("request_id", flat=True)
    return kept["upto_request_id"] == (request_id.first() or "")


def _group(row: dict, measures: tuple[str, ...]) -> tuple:
    return tuple(
        (k, json.dumps(v, sort_keys=True, default=str) if isinstance(v, list | dict) else v)
        for k, v in sorted(row.items())
        if k not in measures
    )


def _added(rows: list[dict], more: list[dict], measures: tuple[str, ...]) -> list[dict]:
    by_group = {_group(row, measures): dict(row) for row in rows}
    for row in more:
        into = by_group.setdefault(_group(row, measures), {**row, **dict.fromkeys(measures, 0)})
        for measure in measures:
            into[measure] = (into[measure] or 0) + (row[measure] or 0)
    return list(by_group.values())


def open_day_rows(
    *,
    tenant: Tenant,
    start: date,
    end: date,
    what: str,
    watermark: date | None,
    measures: tuple[str, ...],
    read: Callable[[int | None, int | None], list[dict]],
) -> list[dict]:
    """`read(after_id, upto_id)` groups the range's events with after_id < id <= upto_id
    (None: no bound); the rows are theirs, their `measures` summed across reads (the other
    fields are the group). `what` names the read (its grouping and filters) in the key."""
    key = f"tg:usage:open-day:{_tenant_key(tenant)}:{start}:{end}:{what}:{watermark}"
    refresh = _refresh_seconds()
    if refresh <= 0:
        return read(None, None)
    now = timezone.now().timestamp()
    latest = _latest()
    upto = latest[0]
    kept = cache.get(key)
    fresh = kept is not None and now - kept["read_at"] < refresh
    if fresh and _still_there(kept, latest):
        rows = kept["rows"]
        if upto > kept["upto"]:
            rows = _added(rows, read(kept["upto"], upto), measures)
        read_at = kept["read_at"]
    else:
        rows, read_at = read(None, upto), now
    kept = {"rows": rows, "upto": upto, "upto_request_id": latest[1], "read_at": read_at}
    cache.set(key, kept, refresh)
    return rows


def final_days_rows(
    *, tenant: Tenant, what: str, watermark: date, layout: int, read: Callable[[], list]
) -> list:
    """A read of final days (the rollups through the watermark), kept FINAL_DAYS_SECONDS: they
    change when the watermark or the bucket layout moves (both are in the key), otherwise
    only when a month is recomputed for an export, which then shows within five minutes."""
    if _refresh_seconds() <= 0:
        return read()
    key = f"tg:usage:final-days:{_tenant_key(tenant)}:{what}:{watermark}:{layout}"
    rows = cache.get(key)
    if rows is None:
        rows = read()
        cache.set(key, rows, FINAL_DAYS_SECONDS)
    return rows
