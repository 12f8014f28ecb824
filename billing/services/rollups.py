"""Daily and monthly usage rollups: SQL aggregation, then upserts inside the database.

A bucket is (tenant, local day or month, model, provider, config, API key, key source, status);
a tag-set bucket (daily only) is (tenant, local day, the event's whole tags array, model,
provider, config, API key, status), and a tag bucket the same with one tag, an event counting
once under each of its tags; an end-user bucket (daily) is (tenant, local day, end user, model,
provider, config, API key, status). A run reads the events of all its days once into their
finest buckets and sums every daily table from those, one statement per table over all the
days (billing/services/rollup_days.py); every statement is INSERT ... SELECT ... ON CONFLICT DO
UPDATE writing only the buckets that changed, no row through Python, so a retried, duplicated
or concurrent run writes the same rows. Buckets the new aggregation no longer has are deleted
(a deleted config or key is cleared on its events); a day whose raw events retention has
removed (only whole, final days) aggregates to nothing and keeps its rows. Monthly buckets are
summed from the daily ones. Rollups of one tenant are serialised by a lock on its RollupState
row. The statements are billing/services/rollup_upsert.py.

`ROLLUP_LAYOUT` numbers the bucket layout. A tenant whose final days were rolled with an older
one (before status, tags or tag sets were rolled up) has every day that still has events
re-rolled once by the next refresh, which then records the layout: the backfill is the ordinary
job.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Min, Sum
from django.utils import timezone

from billing.models import (
    ROLLUP_LAYOUT,
    DailyRollup,
    MonthlyRollup,
    RollupState,
    UsageEvent,
)
from billing.models.rollups import (  # noqa: F401 (imported from here by tests and the bench)
    DIMENSIONS,
    TAG_DIMENSIONS,
    TAG_SET_DIMENSIONS,
    USER_DIMENSIONS,
)
from billing.selectors.rollup_state import retention_days
from billing.services.rollup_days import rollup_days
from billing.services.rollup_upsert import MEASURE_ALIASES, MEASURES, upsert_select  # noqa: F401
from core.calendar import local_midnight, month_window
from tenants.models import Tenant

if TYPE_CHECKING:
    from datetime import date, datetime


# A day is final (no more late events expected) this long after it ends in the tenant's zone.
FINAL_AFTER = timedelta(minutes=15)
# Final days the six-hourly run rolls again for usage that arrived after them (two days: the
# statements' default grace window, after which late usage is an adjustment of its own).
LATE_USAGE_DAYS = 2


def rollup_day(*, tenant: Tenant, day: date) -> int:
    """Recompute every bucket (and tag, tag-set and end-user bucket) of one local day; returns
    the number of buckets inserted or changed."""
    return rollup_days(tenant=tenant, days=[day])


def rollup_month(*, tenant: Tenant, month: str) -> int:
    """Recompute a month's buckets from its daily rollups; returns the number inserted or
    changed."""
    window = month_window(month=month, tz=ZoneInfo(tenant.timezone))
    rows = (
        DailyRollup.objects.filter(tenant=tenant, day__gte=window.start_day, day__lt=window.end_day)
        .values(*DIMENSIONS)
        .annotate(
            requests_=Sum("requests"),
            in_tokens=Sum("input_tokens"),
            out_tokens=Sum("output_tokens"),
            cache_tokens=Sum("cached_tokens"),
            billed=Sum("billed_tokens"),
            cost=Sum("cost_usd"),
            write_tokens=Sum("cache_write_tokens"),
            think_tokens=Sum("reasoning_tokens"),
        )
        .order_by()
    )
    return upsert_select(
        MonthlyRollup,
        tenant=tenant,
        period=("month", month),
        select=rows.query.sql_with_params(),
        dimensions=DIMENSIONS,
        columns=[*DIMENSIONS, "requests_", *MEASURE_ALIASES[1:]],
    )[1]


def _lock_state(tenant: Tenant) -> RollupState:
    """Lock the tenant's rollup state row: an UPDATE first takes the row lock on PostgreSQL and
    the write lock on SQLite, so concurrent rollups of a tenant run one after the other."""
    RollupState.objects.get_or_create(tenant=tenant)
    RollupState.objects.filter(tenant=tenant).update(updated_at=timezone.now())
    return RollupState.objects.get(tenant=tenant)


def final_through(*, tenant: Tenant, now: datetime | None = None) -> date:
    """The last local day of the tenant that is over (plus FINAL_AFTER)."""
    tz = ZoneInfo(tenant.timezone)
    return ((now or timezone.now()) - FINAL_AFTER).astimezone(tz).date() - timedelta(days=1)


def rollups_refresh_tenant(
    *, tenant: Tenant, now: datetime | None = None, days: list[date] | None = None
) -> int:
    """Roll up every day after the last final one through today (or the given days), then the
    months they fall in; advance the final-day watermark. Returns buckets written.

    Without `days`, final days rolled with an older ROLLUP_LAYOUT are rolled again from the first
    event on (once: the run records the layout)."""
    now = now or timezone.now()
    tz = ZoneInfo(tenant.timezone)
    today = now.astimezone(tz).date()
    written = 0
    with transaction.atomic():
        state = _lock_state(tenant)
        final = final_through(tenant=tenant, now=now)
        start = state.rolled_through + timedelta(days=1) if state.rolled_through else None
        relayout = days is None and state.layout < ROLLUP_LAYOUT
        if days is None:
            if start is None or relayout:
                first_event = UsageEvent.objects.filter(tenant=tenant).aggregate(
                    first=Min("created_at")
                )["first"]
                first = first_event.astimezone(tz).date() if first_event else today
                start = min(first, start) if start is not None else first
            days = [start + timedelta(days=n) for n in range((today - start).days + 1)]
        written += rollup_days(tenant=tenant, days=days)
        months = {day.strftime("%Y-%m") for day in days}
        for month in sorted(months):
            written += rollup_month(tenant=tenant, month=month)
        # The watermark moves only over a contiguous run of recomputed final days.
        if start is not None:
            done, day, watermark = set(days), start, None
            while day <= final and day in done:
                watermark, day = day, day + timedelta(days=1)
            if watermark:
                RollupState.objects.filter(pk=state.pk).update(rolled_through=watermark)
        if relayout:
            RollupState.objects.filter(pk=state.pk).update(layout=ROLLUP_LAYOUT)
    return written


def rollups_refresh_month(*, tenant: Tenant, month: str, now: datetime | None = None) -> int:
    """Recompute every day of a month that has begun (a repair: final days are not re-rolled
    otherwise, e.g. after a config was deleted; exports read the events and need none)."""
    window = month_window(month=month, tz=ZoneInfo(tenant.timezone))
    today = (now or timezone.now()).astimezone(ZoneInfo(tenant.timezone)).date()
    last = min(window.end_day - timedelta(days=1), today)
    days = [window.start_day + timedelta(days=n) for n in range((last - window.start_day).days + 1)]
    return rollups_refresh_tenant(tenant=tenant, now=now, days=days)


def rollups_refresh_all(*, now: datetime | None = None) -> int:
    written = 0
    for tenant in Tenant.objects.all().iterator():
        written += rollups_refresh_tenant(tenant=tenant, now=now)
    return written


def rollups_recompute_months(*, now: datetime | None = None) -> int:
    """Re-roll each tenant's last LATE_USAGE_DAYS final days, then the monthly rollups of the
    current and previous local month of every tenant.

    The ten-minute run never goes back past the watermark, so usage ingested after its day became
    final (a worker backlog, a replayed stream) reached the rollups only by a repair; re-rolling
    the last final days here brings it into the usage reads and dashboards within six hours.
    An unchanged day writes nothing, so this costs one pass over those days' events."""
    written = 0
    now = now or timezone.now()
    for tenant in Tenant.objects.all().iterator():
        final = final_through(tenant=tenant, now=now)
        late_days = [final - timedelta(days=n) for n in range(LATE_USAGE_DAYS - 1, -1, -1)]
        written += rollups_refresh_tenant(tenant=tenant, now=now, days=late_days)
        this_month = now.astimezone(ZoneInfo(tenant.timezone)).date().replace(day=1)
        previous = (this_month - timedelta(days=1)).replace(day=1)
        for first in (previous, this_month):
            written += rollup_month(tenant=tenant, month=first.strftime("%Y-%m"))
    return written


def usage_retention_purge(
    *, now: datetime | None = None, keep_days: int | None = None, batch: int = 5000
) -> int:
    """Delete raw usage events older than `keep_days` (setting TOLLGATE_USAGE_RETENTION_DAYS),
    whole local days only and only days whose rollup is final. Returns events deleted."""
    keep_days = keep_days if keep_days is not None else retention_days()
    now = now or timezone.now()
    deleted = 0
    for state in RollupState.objects.filter(rolled_through__isnull=False).select_related("tenant"):
        tz = ZoneInfo(state.tenant.timezone)
        horizon = now.astimezone(tz).date() - timedelta(days=keep_days)
        cutoff_day = min(state.rolled_through + timedelta(days=1), horizon)
        cutoff = local_midnight(day=cutoff_day, tz=tz)
        while True:
            ids = list(
                UsageEvent.objects.filter(tenant_id=state.tenant_id, created_at__lt=cutoff)
                .order_by()
                .values_list("id", flat=True)[:batch]
            )
            if not ids:
                break
            deleted += UsageEvent.objects.filter(id__in=ids).delete()[0]
    return deleted
