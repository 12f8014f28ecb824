"""Daily and monthly rollups: SQL aggregation and upserts; idempotent and serialised."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import (
    ROLLUP_LAYOUT,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    MonthlyRollup,
    RollupState,
    UsageEvent,
)
from billing.services.rollup_upsert import MEASURES
from billing.services.rollups import (
    TAG_DIMENSIONS,
    rollup_day,
    rollups_refresh_tenant,
    usage_retention_purge,
)
from billing.tests.test_budget_support import make_event, make_key, run_racing
from tests.support.catalog import config_create


def _snapshot():
    return sorted(
        DailyRollup.objects.values_list(
            "tenant_id",
            "day",
            "model",
            "provider",
            "config_ref",
            "api_key_ref",
            "key_source",
            "status",
            "requests",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "billed_tokens",
            "cost_usd",
        )
    )


def _seed(tenant, other_tenant):
    config = config_create(tenant, name="plan", validate=False)
    key = make_key(tenant)
    # 23:30 UTC on 21 Nov is 00:30 on 22 Nov in Berlin, but 18:30 on 21 Nov in New York.
    late = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    make_event(tenant, at=late, cost="0.0100000001", config=config, api_key=key)
    make_event(tenant, at=late, cost="0.02", config=config, api_key=key)
    make_event(
        tenant,
        at=late,
        cost="0.5",
        key_source="byok",
        model="claude-haiku-4-5",
        provider="anthropic",
    )
    make_event(tenant, at=late - timedelta(hours=1), cost="0.003", status="cache_hit")
    make_event(other_tenant, at=late, cost="0.25")
    return config, key


@pytest.mark.django_db
def test_buckets_are_per_local_day_and_dimension(tenant, other_tenant):
    config, key = _seed(tenant, other_tenant)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rollups_refresh_tenant(tenant=tenant, now=now)
    rollups_refresh_tenant(tenant=other_tenant, now=now)
    acme = DailyRollup.objects.filter(tenant=tenant)
    main = acme.get(day=date(2026, 11, 22), config_ref=config.pk)
    assert (main.requests, main.cost_usd, main.api_key_ref) == (2, Decimal("0.0300000001"), key.pk)
    assert main.billed_tokens == 300
    cache = acme.get(day=date(2026, 11, 21), status="cache_hit")  # 23:30 Berlin on the 21st
    assert cache.billed_tokens == 0 and cache.cost_usd == Decimal("0.003")
    assert acme.get(key_source="byok").provider == "anthropic"
    assert DailyRollup.objects.get(tenant=other_tenant).day == date(2026, 11, 21)
    month = MonthlyRollup.objects.filter(tenant=tenant, month="2026-11")
    assert sum(m.cost_usd for m in month) == Decimal("0.5330000001")
    assert RollupState.objects.get(tenant=tenant).rolled_through == date(2026, 11, 22)


@pytest.mark.django_db
def test_recompute_twice_gives_the_same_rows(tenant, other_tenant):
    _seed(tenant, other_tenant)
    rollup_day(tenant=tenant, day=date(2026, 11, 22))
    first = _snapshot()
    ids = sorted(DailyRollup.objects.values_list("id", flat=True))
    rollup_day(tenant=tenant, day=date(2026, 11, 22))
    assert _snapshot() == first
    assert sorted(DailyRollup.objects.values_list("id", flat=True)) == ids


@pytest.mark.django_db
def test_a_late_event_updates_its_bucket(tenant, other_tenant):
    _seed(tenant, other_tenant)
    rollup_day(tenant=tenant, day=date(2026, 11, 22))
    make_event(tenant, at=datetime(2026, 11, 22, 10, tzinfo=UTC), cost="1", status="error")
    rollup_day(tenant=tenant, day=date(2026, 11, 22))
    row = DailyRollup.objects.get(
        tenant=tenant, day=date(2026, 11, 22), config_ref=0, key_source="platform"
    )
    assert (row.requests, row.cost_usd) == (1, Decimal("1"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_rollups_write_the_same_rows(tenant, other_tenant):
    _seed(tenant, other_tenant)
    for n in range(200):
        make_event(
            tenant,
            at=datetime(2026, 11, 20, 8, tzinfo=UTC) + timedelta(seconds=n),
            cost="0.0001",
            model=f"m{n % 7}",
        )
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)

    def run():
        rollups_refresh_tenant(
            tenant=tenant,
            now=now,
            days=[date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)],
        )

    assert run_racing(run) == []
    concurrent = _snapshot()
    run()
    assert _snapshot() == concurrent
    assert DailyRollup.objects.filter(day=date(2026, 11, 20)).count() == 7
    assert sum(r.cost_usd for r in DailyRollup.objects.filter(tenant=tenant)) == sum(
        e.cost_usd for e in UsageEvent.objects.filter(tenant=tenant)
    )


@pytest.mark.django_db
def test_retention_deletes_only_rolled_up_whole_days(tenant, other_tenant):
    old = datetime(2026, 8, 1, 12, tzinfo=UTC)
    make_event(tenant, at=old, cost="0.1")
    make_event(tenant, at=datetime(2026, 11, 22, 12, tzinfo=UTC), cost="0.2")
    make_event(other_tenant, at=old, cost="0.3")  # never rolled up: kept
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rollups_refresh_tenant(tenant=tenant, now=now)
    assert usage_retention_purge(now=now, keep_days=30) == 1
    assert UsageEvent.objects.filter(tenant=tenant).count() == 1
    assert UsageEvent.objects.filter(tenant=other_tenant).count() == 1
    # Recomputing a purged day keeps its rollup.
    rollup_day(tenant=tenant, day=date(2026, 8, 1))
    assert DailyRollup.objects.get(tenant=tenant, day=date(2026, 8, 1)).cost_usd == Decimal("0.1")


@pytest.mark.django_db
def test_budget_truth_uses_rollups_then_events(tenant):
    from zoneinfo import ZoneInfo

    from billing.services.spend_truth import spend_truth
    from core.calendar import period_window

    make_event(
        tenant,
        at=datetime(2026, 11, 3, 12, tzinfo=UTC),
        cost="0.4",
        input_tokens=10,
        output_tokens=5,
    )
    rollups_refresh_tenant(tenant=tenant, now=datetime(2026, 11, 10, 12, tzinfo=UTC))
    UsageEvent.objects.all().delete()  # as retention would
    make_event(
        tenant,
        at=datetime(2026, 11, 22, 12, tzinfo=UTC),
        cost="0.1",
        input_tokens=1,
        output_tokens=1,
    )
    tz = ZoneInfo(tenant.timezone)
    window = period_window(period="monthly", tz=tz, at=datetime(2026, 11, 22, 13, tzinfo=UTC))
    assert spend_truth(tenant_id=tenant.pk, scope="tenant", scope_id=0, window=window, tz=tz) == (
        Decimal("0.5"),
        17,
    )


@pytest.mark.django_db
def test_deleting_a_config_moves_its_spend_without_double_counting(tenant):
    from billing.services.exports import export_create

    config = config_create(tenant, name="plan", validate=False)
    make_event(tenant, at=datetime(2026, 10, 5, 12, tzinfo=UTC), cost="0.7", config=config)
    make_event(tenant, at=datetime(2026, 10, 5, 13, tzinfo=UTC), cost="0.3")
    rollups_refresh_tenant(tenant=tenant, now=datetime(2026, 10, 9, tzinfo=UTC))
    assert DailyRollup.objects.filter(tenant=tenant).count() == 2
    config.delete()  # its events keep their cost, with config cleared
    export = export_create(tenant=tenant, month="2026-10")
    assert export.total_cost_usd == Decimal("1.0") and export.row_count == 1
    # The export reads the events; re-rolling the (final) day merges its buckets.
    rollups_refresh_tenant(tenant=tenant, days=[date(2026, 10, 5)])
    assert [r.cost_usd for r in DailyRollup.objects.filter(tenant=tenant)] == [Decimal("1.0")]
    assert [r.cost_usd for r in MonthlyRollup.objects.filter(tenant=tenant)] == [Decimal("1.0")]


def _tag_snapshot():
    fields = ("tenant_id", "day", *TAG_DIMENSIONS, *MEASURES)
    return sorted(DailyTagRollup.objects.values_list(*fields))


@pytest.mark.django_db
def test_tag_buckets_count_an_event_under_each_of_its_tags(tenant):
    at = datetime(2026, 11, 22, 9, tzinfo=UTC)
    day = date(2026, 11, 22)
    make_event(tenant, at=at, cost="0.1", tags=["a", "b"])
    make_event(tenant, at=at, cost="0.2", tags=["a"], status="cache_hit")
    make_event(tenant, at=at, cost="0.4")  # no tags: in no tag bucket
    make_event(tenant, at=at, cost="0.8", tags={"a": 1})  # not a list: in no tag bucket
    rollup_day(tenant=tenant, day=day)
    rows = {(r.tag, r.status): r for r in DailyTagRollup.objects.filter(tenant=tenant, day=day)}
    assert set(rows) == {("a", "success"), ("b", "success"), ("a", "cache_hit")}
    assert (rows["a", "success"].requests, rows["a", "success"].cost_usd) == (1, Decimal("0.1"))
    assert rows["a", "success"].billed_tokens == 150 and rows["a", "cache_hit"].billed_tokens == 0
    assert rows["b", "success"].cost_usd == Decimal("0.1")
    assert DailyRollup.objects.filter(tenant=tenant, day=day).count() == 2  # by status
    # Tag sets: each whole array once (the non-list one too: it has no tags to expand).
    sets = DailyTagSetRollup.objects.filter(tenant=tenant, day=day)
    assert sorted((str(r.tags), r.status, r.requests) for r in sets) == [
        ("['a', 'b']", "success", 1),
        ("['a']", "cache_hit", 1),
        ("{'a': 1}", "success", 1),
    ]

    first, ids = _tag_snapshot(), sorted(DailyTagRollup.objects.values_list("id", flat=True))
    rollup_day(tenant=tenant, day=day)
    assert _tag_snapshot() == first  # idempotent: the same rows, updated in place
    assert sorted(DailyTagRollup.objects.values_list("id", flat=True)) == ids

    make_event(tenant, at=at, cost="0.05", tags=["b"])  # a late event for the day
    rollup_day(tenant=tenant, day=day)
    assert DailyTagRollup.objects.get(tag="b").cost_usd == Decimal("0.15")


@pytest.mark.django_db
def test_tag_buckets_follow_a_cleared_config_and_survive_retention(tenant):
    config = config_create(tenant, name="plan", validate=False)
    at = datetime(2026, 10, 5, 12, tzinfo=UTC)
    make_event(tenant, at=at, cost="0.7", config=config, tags=["x"])
    rollups_refresh_tenant(tenant=tenant, now=datetime(2026, 10, 9, tzinfo=UTC))
    assert DailyTagRollup.objects.get(tag="x").config_ref == config.pk
    config.delete()  # its events keep their cost, with config cleared
    rollup_day(tenant=tenant, day=date(2026, 10, 5))
    assert list(DailyTagRollup.objects.values_list("config_ref", "cost_usd")) == [
        (0, Decimal("0.7"))
    ]
    UsageEvent.objects.all().delete()  # as retention would
    rollup_day(tenant=tenant, day=date(2026, 10, 5))
    assert DailyTagRollup.objects.get(tag="x").cost_usd == Decimal("0.7")


@pytest.mark.django_db
def test_an_old_layout_is_rolled_again_once(tenant):
    """Days rolled before status and tags were rolled up are re-rolled by the next run (the
    backfill); days whose events retention removed keep their buckets."""
    purged = datetime(2026, 8, 1, 12, tzinfo=UTC)
    make_event(tenant, at=purged, cost="0.1", tags=["old"])
    make_event(tenant, at=datetime(2026, 11, 20, 12, tzinfo=UTC), cost="0.2", tags=["t"])
    make_event(
        tenant, at=datetime(2026, 11, 20, 13, tzinfo=UTC), cost="0.3", tags=["t"], status="error"
    )
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    rollups_refresh_tenant(tenant=tenant, now=now)
    assert usage_retention_purge(now=now, keep_days=30) == 1
    # As the migration leaves them: one bucket for both statuses, no tag or tag-set buckets.
    DailyTagRollup.objects.all().delete()
    DailyTagSetRollup.objects.all().delete()
    DailyRollup.objects.filter(status="error").delete()
    DailyRollup.objects.update(status="")
    DailyRollup.objects.filter(day=date(2026, 11, 20)).update(requests=2, cost_usd=Decimal("0.5"))
    RollupState.objects.update(layout=0)
    assert RollupState.objects.get().rolled_through == date(2026, 11, 22)

    rollups_refresh_tenant(tenant=tenant, now=now)
    state = RollupState.objects.get()
    assert (state.layout, state.rolled_through) == (ROLLUP_LAYOUT, date(2026, 11, 22))
    assert sorted(DailyRollup.objects.values_list("day", "status", "requests", "cost_usd")) == [
        (date(2026, 8, 1), "", 1, Decimal("0.1")),  # purged: the rollup is the record
        (date(2026, 11, 20), "error", 1, Decimal("0.3")),
        (date(2026, 11, 20), "success", 1, Decimal("0.2")),
    ]
    assert sorted(DailyTagRollup.objects.values_list("tag", "status", "cost_usd")) == [
        ("t", "error", Decimal("0.3")),
        ("t", "success", Decimal("0.2")),
    ]
    assert sorted(DailyTagSetRollup.objects.values_list("tags", "status", "cost_usd")) == [
        (["t"], "error", Decimal("0.3")),
        (["t"], "success", Decimal("0.2")),
    ]
    month = MonthlyRollup.objects.filter(month="2026-11").order_by("status")
    assert [(m.status, m.cost_usd) for m in month] == [
        ("error", Decimal("0.3")),
        ("success", Decimal("0.2")),
    ]
    before = _snapshot(), _tag_snapshot()
    rollups_refresh_tenant(tenant=tenant, now=now)  # once: later runs roll new days only
    assert (_snapshot(), _tag_snapshot()) == before
