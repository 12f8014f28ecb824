"""A tenant-month's export lines: straight from the raw events where they are kept, from the
daily rollups for the days retention purged.

Retention deletes whole local days from a tenant's oldest on, and only final, rolled-up days
(usage_retention_purge), so the days before the local day of the tenant's first remaining event
are exactly the purged ones, and their rollup rows are the record; every later day still has all
of its events, late ones and those whose config or key was since deleted (cleared on the event)
included, and one grouped read of them is the month's usage exactly.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, Min, Sum, Value
from django.db.models.functions import Coalesce

from billing.models import DailyRollup, UsageEvent
from billing.sql import local_day
from core.calendar import local_midnight, next_month

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date

    from django.db.models import QuerySet

    from tenants.models import Tenant

# One CSV line's grouping, in the file's order.
LINE_KEYS = ("day", "model", "provider", "config_ref", "key_source")


def export_lines(*, tenant: Tenant, first: date) -> Iterator[dict]:
    """The month's lines of one tenant, ordered by day then the other LINE_KEYS: day, model,
    provider, config_ref, key_source and the sums n, inp, out, cached, cost, write,
    reasoning."""
    end = next_month(first)
    oldest = UsageEvent.objects.filter(tenant=tenant).aggregate(at=Min("created_at"))["at"]
    kept_from = oldest.astimezone(tenant.tzinfo).date() if oldest else end
    kept_from = min(max(kept_from, first), end)
    # Purged days all come before kept ones. A tenant-month's lines are held in memory (a few
    # per day): sorting them here lets PostgreSQL hash the events' groups in parallel instead
    # of sorting every event for an ORDER BY.
    purged = _rollup_lines(tenant=tenant, start=first, end=kept_from)
    kept = _event_lines(tenant=tenant, start=kept_from, end=end)
    for lines in (purged, kept):
        for row in sorted(lines, key=lambda row: tuple(row[key] for key in LINE_KEYS)):
            yield {**row, "tenant_id": tenant.pk}


def _line_sums(*, requests) -> dict:
    """One CSV line's measures, from daily rollups or from events (only the request count
    differs: a rollup's `requests` summed, or the events counted)."""
    return {
        "n": requests,
        "inp": Sum("input_tokens"),
        "out": Sum("output_tokens"),
        "cached": Sum("cached_tokens"),
        "cost": Sum("cost_usd"),
        "write": Sum("cache_write_tokens"),
        "reasoning": Sum("reasoning_tokens"),
    }


def _rollup_lines(*, tenant: Tenant, start: date, end: date) -> Iterator[dict]:
    if start >= end:
        return iter(())
    return (
        DailyRollup.objects.filter(tenant=tenant, day__gte=start, day__lt=end)
        .values(*LINE_KEYS)
        .annotate(**_line_sums(requests=Sum("requests")))
        .order_by()
    )


def _event_lines(*, tenant: Tenant, start: date, end: date) -> Iterator[dict]:
    if start >= end:
        return iter(())
    # A plain query, not a server-side cursor (.iterator()): PostgreSQL never runs a cursor's
    # plan in parallel, and the result is a few lines per day, not events.
    return _event_query(tenant=tenant, start=start, end=end)


def _event_query(*, tenant: Tenant, start: date, end: date) -> QuerySet:
    tz = tenant.tzinfo
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    return (
        UsageEvent.objects.filter(
            tenant=tenant,
            created_at__gte=local_midnight(day=start, tz=tz),
            created_at__lt=local_midnight(day=end, tz=tz),
        )
        .annotate(
            day=local_day(days=days, starts=[local_midnight(day=day, tz=tz) for day in days]),
            config_ref=Coalesce("config_id", Value(0)),
        )
        .values(*LINE_KEYS)
        .annotate(**_line_sums(requests=Count("id")))
        .order_by()
    )
