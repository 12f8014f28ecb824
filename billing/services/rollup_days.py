"""The daily rollups of many local days of one tenant in one pass over its events.

The events of all the days are read once, grouped into the finest bucket every daily table is a
coarsening of (local day, whole tags array, end user, model, provider, config, API key, key
source, status) in a temporary table of a few rows per day; the daily, tag-set, end-user and tag
tables are then summed from it inside the database, one statement per table over all the days.
Each event's local day is a balanced tree of CASEs over the days' starts (the same instants as
`local_midnight`, so a DST change in the tenant's zone cuts days as a day-by-day run does, and
the SQL is the same on PostgreSQL and SQLite): log2(days) comparisons per event.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from billing.models import (
    NOT_BILLED_TOKEN_STATUSES,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    DailyUserRollup,
    UsageEvent,
)
from billing.models.rollups import DIMENSIONS, TAG_DIMENSIONS, TAG_SET_DIMENSIONS, USER_DIMENSIONS
from billing.services.rollup_upsert import MEASURE_ALIASES, MEASURES, upsert_days
from billing.sql import hashed_grouping, local_day, tags_expanded
from core.calendar import local_midnight

if TYPE_CHECKING:
    from datetime import date

    from django.db.models import Expression

    from tenants.models import Tenant

FINE = "tollgate_rollup_fine"
# The finest bucket's columns (after day and the measures), and what each table's column is
# called there.
_SOURCE = {"config_ref": "cfg", "api_key_ref": "key"}
_FINE_GROUP = [
    "day",
    "tagged",
    "tags",
    "end_user",
    "model",
    "provider",
    "cfg",
    "key",
    "key_source",
    "status",
]


def _billed() -> Expression:
    """Per event: the tokens that count against token budgets."""
    billed = ~Q(status__in=NOT_BILLED_TOKEN_STATUSES)
    return Case(When(billed, then=F("input_tokens")), default=Value(0)) + Case(
        When(billed, then=F("output_tokens")), default=Value(0)
    )


def _measures() -> dict:
    return {
        "requests": Count("id"),
        "in_tokens": Sum("input_tokens"),
        "out_tokens": Sum("output_tokens"),
        "cache_tokens": Sum("cached_tokens"),
        "billed": Sum(_billed()),
        "cost": Sum("cost_usd"),
        "write_tokens": Sum("cache_write_tokens"),
        "think_tokens": Sum("reasoning_tokens"),
    }


def _windows(*, days: list[date], tz: ZoneInfo) -> Q:
    """The UTC ranges of the sorted `days`, one per run of consecutive days."""
    ranges: list[list[date]] = []
    for day in days:
        if ranges and ranges[-1][1] == day:
            ranges[-1][1] = day + timedelta(days=1)
        else:
            ranges.append([day, day + timedelta(days=1)])
    q = Q()
    for first, end in ranges:
        q |= Q(
            created_at__gte=local_midnight(day=first, tz=tz),
            created_at__lt=local_midnight(day=end, tz=tz),
        )
    return q


def _fill_fine(*, tenant: Tenant, days: list[date]) -> None:
    """(Re)create the temporary table of the days' finest buckets from one pass over events."""
    tz = ZoneInfo(tenant.timezone)
    starts = [local_midnight(day=day, tz=tz) for day in days]
    rows = (
        UsageEvent.objects.filter(_windows(days=days, tz=tz), tenant=tenant)
        .annotate(
            day=local_day(days=days, starts=starts),
            tagged=Case(When(tags=[], then=Value(0)), default=Value(1)),
            cfg=Coalesce("config_id", Value(0)),
            key=Coalesce("api_key_id", Value(0)),
        )
        .values(*_FINE_GROUP)
        .annotate(**_measures())
        .order_by()
    )
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(_drop_fine())
        cursor.execute(f"CREATE TEMPORARY TABLE {FINE} AS {sql}", params)


def _drop_fine() -> str:
    schema = "pg_temp" if connection.vendor == "postgresql" else "temp"
    return f"DROP TABLE IF EXISTS {schema}.{FINE}"


def _sum_select(*, dimensions: list[str], source: str = FINE, where: str = "") -> str:
    """A SELECT over the finest buckets (or `source`) grouped by day and `dimensions`, its
    columns named as the target table's."""
    qn = connection.ops.quote_name
    dims = [f"{qn(_SOURCE.get(col, col))} AS {qn(col)}" for col in dimensions]
    group = ", ".join(qn(_SOURCE.get(col, col)) for col in ["day", *dimensions])
    sums = ", ".join(
        f"SUM({qn(alias)}) AS {qn(col)}"
        for col, alias in zip(MEASURES, MEASURE_ALIASES, strict=True)
    )
    return (
        f"SELECT {qn('day')}, {', '.join(dims)}, {sums} FROM {source} "  # noqa: S608
        f"{where} GROUP BY {group}"
    )


def _tag_select() -> str:
    """The tag buckets: each tagged finest bucket joined with the elements of its tags array
    (the usage API's expansion), grouped by tag."""
    qn = connection.ops.quote_name
    source, tag = tags_expanded(rows_sql=f"SELECT * FROM {FINE} WHERE tagged = 1", alias="g")  # noqa: S608
    dims = ", ".join(f"g.{qn(_SOURCE.get(col, col))} AS {qn(col)}" for col in TAG_DIMENSIONS[1:])
    group = ", ".join(f"g.{qn(_SOURCE.get(col, col))}" for col in TAG_DIMENSIONS[1:])
    sums = ", ".join(
        f"SUM(g.{qn(alias)}) AS {qn(col)}"
        for col, alias in zip(MEASURES, MEASURE_ALIASES, strict=True)
    )
    return (
        f"SELECT g.{qn('day')} AS {qn('day')}, {tag} AS {qn('tag')}, {dims}, {sums} "  # noqa: S608
        f"FROM {source} WHERE {tag} IS NOT NULL GROUP BY g.{qn('day')}, {tag}, {group}"
    )


def rollup_days(*, tenant: Tenant, days: list[date]) -> int:
    """Recompute every daily bucket (daily, tag set, end user, tag) of the given local days;
    returns the number of buckets inserted or changed. The caller holds the tenant's rollup
    lock (or a transaction)."""
    days = sorted(set(days))
    if not days:
        return 0
    with_events = f"SELECT DISTINCT {connection.ops.quote_name('day')} FROM {FINE}"  # noqa: S608
    tables = [
        (DailyRollup, DIMENSIONS, _sum_select(dimensions=DIMENSIONS)),
        (
            DailyTagSetRollup,
            TAG_SET_DIMENSIONS,
            _sum_select(dimensions=TAG_SET_DIMENSIONS, where="WHERE tagged = 1"),
        ),
        (DailyUserRollup, USER_DIMENSIONS, _sum_select(dimensions=USER_DIMENSIONS)),
        (DailyTagRollup, TAG_DIMENSIONS, _tag_select()),
    ]
    written = 0
    # No cleanup on an error: the transaction's rollback takes the temporary table with it.
    with hashed_grouping():
        _fill_fine(tenant=tenant, days=days)
        for model, dimensions, select in tables:
            written += upsert_days(
                model, tenant=tenant, select=select, dimensions=dimensions, days_sql=with_events
            )
        with connection.cursor() as cursor:
            cursor.execute(_drop_fine())
    return written
