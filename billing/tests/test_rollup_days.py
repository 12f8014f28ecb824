"""Rollups of many days in one pass: the same rows as day by day (DST included), stale buckets
deleted only on days that still have events, and exports reading events and purged days."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.models import (
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    DailyUserRollup,
    MonthlyRollup,
    UsageEvent,
)
from billing.models.rollups import DIMENSIONS, TAG_DIMENSIONS, USER_DIMENSIONS
from billing.services.rollup_days import rollup_days
from billing.services.rollup_upsert import MEASURES
from billing.services.rollups import rollup_day, rollups_refresh_tenant
from billing.tests.test_budget_support import make_event
from tests.support.catalog import config_create

TABLES = [
    (DailyRollup, DIMENSIONS),
    (DailyTagSetRollup, ["tags", *TAG_DIMENSIONS[1:]]),
    (DailyTagRollup, TAG_DIMENSIONS),
    (DailyUserRollup, USER_DIMENSIONS),
]
# Berlin leaves summer time on 25 Oct 2026 at 03:00 (a 25-hour day); New York on 1 Nov.
DST_DAYS = [date(2026, 10, 23) + timedelta(days=n) for n in range(12)]


def _snapshot(tenant) -> list:
    rows = []
    for model, dims in TABLES:
        fields = ["day", *dims, *MEASURES]
        rows.append(sorted(map(repr, model.objects.filter(tenant=tenant).values_list(*fields))))
    return rows


def _seed_across_dst(tenant) -> None:
    tz = ZoneInfo(tenant.timezone)
    for n, day in enumerate(DST_DAYS):
        for hour, minute in ((0, 0), (2, 30), (23, 59)):
            local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
            make_event(tenant, at=local.astimezone(UTC), cost="0.01", tags=["a", "b"][: n % 3])
    # 02:30 happens twice on 25 Oct in Berlin: the second one too is that day.
    make_event(tenant, at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC), cost="0.5", model="x")


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_one_run_over_a_dst_change_gives_the_rows_of_day_by_day(tenant, zone):
    tenant.timezone = zone
    tenant.save()
    _seed_across_dst(tenant)
    rollups_refresh_tenant(tenant=tenant, days=DST_DAYS)
    together = _snapshot(tenant)
    for model, _ in TABLES:
        model.objects.filter(tenant=tenant).delete()
    for day in DST_DAYS:
        rollup_day(tenant=tenant, day=day)
    assert _snapshot(tenant) == together
    tz = ZoneInfo(zone)
    expected = Counter(e.created_at.astimezone(tz).date() for e in UsageEvent.objects.all())
    rolled = Counter()
    for row in DailyRollup.objects.filter(tenant=tenant):
        rolled[row.day] += row.requests
    assert rolled == expected


@pytest.mark.django_db
def test_stale_buckets_go_only_on_days_that_still_have_events(tenant):
    config = config_create(tenant, name="plan", validate=False)
    days = [date(2026, 10, 5), date(2026, 10, 6)]
    for day in days:
        at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        make_event(tenant, at=at, cost="0.7", config=config, tags=["t"])
        make_event(tenant, at=at, cost="0.3")
    rollups_refresh_tenant(tenant=tenant, days=days)
    assert DailyRollup.objects.filter(tenant=tenant, config_ref=config.pk).count() == 2
    config_id = config.pk
    config.delete()  # cleared on its events
    UsageEvent.objects.filter(created_at__date=days[0]).delete()  # as retention would
    written = rollups_refresh_tenant(tenant=tenant, days=days)
    assert written > 0
    by_day = {
        day: sorted(
            DailyRollup.objects.filter(tenant=tenant, day=day).values_list("config_ref", "cost_usd")
        )
        for day in days
    }
    assert by_day[days[0]] == [(0, Decimal("0.3")), (config_id, Decimal("0.7"))]
    assert by_day[days[1]] == [(0, Decimal("1.0"))]
    tag_rows = DailyTagRollup.objects.filter(tenant=tenant).values_list("day", "config_ref")
    assert sorted(tag_rows) == [(days[0], config_id), (days[1], 0)]
    monthly = MonthlyRollup.objects.filter(tenant=tenant).values_list("cost_usd", flat=True)
    assert sum(monthly) == Decimal("2.0")


@pytest.mark.django_db
def test_an_unchanged_rerun_writes_nothing(tenant):
    _seed_across_dst(tenant)
    assert rollups_refresh_tenant(tenant=tenant, days=DST_DAYS) > 0
    first = _snapshot(tenant)
    assert rollup_days(tenant=tenant, days=DST_DAYS) == 0
    assert _snapshot(tenant) == first


@pytest.mark.django_db
def test_export_reads_late_events_and_purged_days_from_rollups(tenant):
    from billing.services.exports import export_create
    from billing.tests.test_exports import _read

    make_event(tenant, at=datetime(2026, 10, 1, 12, tzinfo=UTC), cost="0.25")
    make_event(tenant, at=datetime(2026, 10, 20, 12, tzinfo=UTC), cost="0.5")
    now = datetime(2026, 11, 2, tzinfo=UTC)
    rollups_refresh_tenant(tenant=tenant, now=now)
    UsageEvent.objects.filter(created_at__lt=datetime(2026, 10, 2, tzinfo=UTC)).delete()
    make_event(tenant, at=datetime(2026, 10, 20, 13, tzinfo=UTC), cost="0.125")  # late
    export = export_create(tenant=tenant, month="2026-10")
    _, rows = _read(export)
    assert [(row["day"], row["requests"], row["cost_usd"]) for row in rows] == [
        ("2026-10-01", "1", "0.2500000000"),
        ("2026-10-20", "2", "0.6250000000"),
    ]
    assert export.total_cost_usd == Decimal("0.875")


@pytest.mark.django_db
def test_late_usage_for_a_final_day_reaches_the_rollups_in_the_six_hourly_run(tenant):
    """The ten-minute run stops at the watermark; the six-hourly one re-rolls the last final
    days, so an event ingested after its day became final is counted there (and in the month)."""
    from billing.services.rollups import rollups_recompute_months

    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = now - timedelta(days=1)
    make_event(tenant, at=yesterday, cost="0.0100")
    rollups_refresh_tenant(tenant=tenant, now=now)
    make_event(tenant, at=yesterday + timedelta(hours=1), cost="0.0025")  # arrives late

    def rolled() -> Decimal:
        rows = DailyRollup.objects.filter(tenant=tenant, day=yesterday.date())
        return sum((row.cost_usd for row in rows), Decimal(0))

    rollups_refresh_tenant(tenant=tenant, now=now)
    assert rolled() == Decimal("0.0100")
    rollups_recompute_months(now=now)
    assert rolled() == Decimal("0.0125")
    month = MonthlyRollup.objects.filter(tenant=tenant, month=yesterday.strftime("%Y-%m"))
    assert sum((row.cost_usd for row in month), Decimal(0)) >= Decimal("0.0125")
