"""Reads that use the daily (and tag) rollups for final days (usage API aggregates, the events
list's count, the admin dashboard) give exactly what the raw events give. The same reads that
bench/billing_scale.py times at 5,000,000 events, here on small data in every test run.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from billing.admin_dashboard import _split_month, usage_dashboard
from billing.models import (
    ROLLUP_LAYOUT,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    RollupState,
    UsageEvent,
)
from billing.selectors import usage_aggregates, usage_events
from billing.selectors.usage_filters import UsageFilters
from billing.services.rollups import rollups_refresh_tenant
from billing.tests.test_budget_support import make_event, make_key
from tests.support.catalog import config_create

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
STATUSES = ("success", "success", "cache_hit", "error", "fallback_success", "rejected", "success")
# No tags, one, two (an event with two counts once under each), and a tag alone or paired.
TAGS = ([], ["prod"], ["batch", "eval"], ["eval"], ["prod", "eval"])


def _seed(tenant, other_tenant):
    config = config_create(tenant, name="plan", validate=False)
    key = make_key(tenant)
    # Every few hours from 10 Oct to now, with varied dimensions, statuses and costs; the
    # hours straddle local midnights in Berlin and New York.
    at, n = datetime(2026, 10, 10, 1, 17, tzinfo=UTC), 0
    while at < NOW:
        n += 1
        make_event(
            tenant,
            at=at,
            cost=f"0.{n:04d}000007",
            model=("gpt-4o-mini", "gpt-4o", "claude-haiku")[n % 3],
            provider="anthropic" if n % 3 == 2 else "openai",
            config=config if n % 2 else None,
            api_key=key if n % 5 else None,
            key_source="byok" if n % 7 == 0 else "platform",
            status=STATUSES[n % len(STATUSES)],
            input_tokens=n,
            tags=TAGS[n % len(TAGS)],
        )
        make_event(other_tenant, at=at + timedelta(minutes=3), cost="0.25", model="gpt-4o")
        at += timedelta(hours=5, minutes=13)
    UsageEvent.objects.filter(status="cache_hit").update(saved_usd=Decimal("0.125"))
    return config, key


def _forget_rollups():
    RollupState.objects.update(rolled_through=None)


@pytest.mark.django_db
@pytest.mark.parametrize("group_by", ["day", "month", "model", "provider", "config", "key", "tag"])
def test_usage_aggregate_from_rollups_equals_events(tenant, other_tenant, group_by):
    config, key = _seed(tenant, other_tenant)
    rollups_refresh_tenant(tenant=tenant, now=NOW)
    assert RollupState.objects.get(tenant=tenant).rolled_through == date(2026, 11, 21)
    queries = [
        {},
        {"filters": UsageFilters(model="gpt-4o")},
        {"filters": UsageFilters(config_id=config.pk, api_key_id=key.pk)},
        {"filters": UsageFilters(status="cache_hit")},
        {"filters": UsageFilters(status="rejected", provider="openai")},
        {"filters": UsageFilters(tag="eval")},
        {"filters": UsageFilters(tag="prod", status="success", model="gpt-4o")},
        {"filters": UsageFilters(tag="batch", config_id=config.pk, api_key_id=key.pk)},
        {"filters": UsageFilters(tag="no-such-tag")},
    ]
    for extra in queries:
        f = extra.get("filters", UsageFilters())
        for start, end in [
            (date(2026, 10, 1), date(2026, 11, 22)),
            (date(2026, 11, 3), NOW.date()),
            (date(2026, 11, 3), date(2026, 11, 20)),  # final days only
        ]:
            args = {"tenant": tenant, "start": start, "end": end, "group_by": group_by, **extra}
            with mock.patch.object(
                usage_aggregates, "_rollup_aggregate", wraps=usage_aggregates._rollup_aggregate
            ) as from_rollups:
                fast = usage_aggregates.usage_aggregate(**args)
            assert from_rollups.called, (group_by, f)
            RollupState.objects.filter(tenant=tenant).update(rolled_through=None)
            slow = usage_aggregates.usage_aggregate(**args)
            RollupState.objects.filter(tenant=tenant).update(rolled_through=date(2026, 11, 21))
            if f.tag != "no-such-tag":
                assert fast["totals"]["requests"] > 0, (group_by, f, start)
            assert fast == slow, (group_by, f, start)


@pytest.mark.django_db
def test_tag_totals_count_each_event_once(tenant, other_tenant):
    _seed(tenant, other_tenant)
    rollups_refresh_tenant(tenant=tenant, now=NOW)
    args = {"tenant": tenant, "start": date(2026, 10, 1), "end": NOW.date()}
    by_tag = usage_aggregates.usage_aggregate(group_by="tag", **args)
    by_day = usage_aggregates.usage_aggregate(group_by="day", **args)
    assert by_tag["totals"] == by_day["totals"]
    assert [row["tag"] for row in by_tag["results"]] == ["batch", "eval", "prod"]
    # Two-tag events are in two rows, untagged ones in none.
    assert sum(row["requests"] for row in by_tag["results"]) != by_tag["totals"]["requests"]
    assert DailyTagRollup.objects.filter(tenant=tenant, day__lte=date(2026, 11, 21)).exists()


@pytest.mark.django_db
def test_reads_before_the_relayout_come_from_events(tenant, other_tenant):
    """Final days rolled before status and tags were rollup dimensions: tag and status reads
    use events until the next rollup run has re-rolled them, then the rollups again."""
    _seed(tenant, other_tenant)
    rollups_refresh_tenant(tenant=tenant, now=NOW)
    reads = {
        group_by: {
            "tenant": tenant,
            "start": date(2026, 10, 1),
            "end": NOW.date(),
            "group_by": group_by,
            "filters": UsageFilters(status="success", tag=tag),
        }
        for group_by, tag in (("tag", None), ("model", "eval"), ("day", None))
    }
    expected = {
        group_by: usage_aggregates.usage_aggregate(**args) for group_by, args in reads.items()
    }
    # What a deployment finds: buckets without status, no tag rollups, the old layout.
    DailyTagRollup.objects.all().delete()
    DailyRollup.objects.filter(tenant=tenant).exclude(status="success").delete()
    DailyRollup.objects.filter(tenant=tenant).update(status="")
    RollupState.objects.filter(tenant=tenant).update(layout=0)
    for group_by, args in reads.items():
        with mock.patch.object(usage_aggregates, "_rollup_aggregate") as from_rollups:
            assert usage_aggregates.usage_aggregate(**args) == expected[group_by]
        assert not from_rollups.called
    with mock.patch.object(timezone, "now", return_value=NOW):
        rollups_refresh_tenant(tenant=tenant, now=NOW)
    state = RollupState.objects.get(tenant=tenant)
    assert (state.layout, state.rolled_through) == (ROLLUP_LAYOUT, date(2026, 11, 21))
    assert not DailyRollup.objects.filter(tenant=tenant, status="").exists()
    for group_by, args in reads.items():
        with mock.patch.object(
            usage_aggregates, "_rollup_aggregate", wraps=usage_aggregates._rollup_aggregate
        ) as from_rollups:
            assert usage_aggregates.usage_aggregate(**args) == expected[group_by]
        assert from_rollups.called


@pytest.mark.django_db
def test_events_count_from_rollups_equals_events(tenant, other_tenant):
    _seed(tenant, other_tenant)
    rollups_refresh_tenant(tenant=tenant, now=NOW)
    start, end = usage_events.local_range(tenant=tenant, start=date(2026, 10, 15), end=NOW.date())
    for filters in (
        None,
        UsageFilters(model="gpt-4o", provider="openai"),
        UsageFilters(status="cache_hit"),
        UsageFilters(tag="eval"),
        UsageFilters(tag="prod", status="success", model="gpt-4o"),
    ):
        for bounds in ({}, {"start": start, "end": end}):
            qs = usage_events.usage_event_list(tenant=tenant, filters=filters, **bounds)
            expected = UsageEvent.objects.filter(pk__in=qs.values("pk")).count()
            assert expected > 0
            fast = usage_events._fast_event_count(
                base=qs,
                tenant=tenant,
                start=bounds.get("start"),
                end=bounds.get("end"),
                filters=filters or UsageFilters(),
            )
            assert fast == expected  # computed from the rollups, not None
            assert qs.count() == expected


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_dashboard_from_rollups_equals_events(tenant, other_tenant, zone):
    _seed(tenant, other_tenant)
    with mock.patch.object(timezone, "now", return_value=NOW):
        rollups_refresh_tenant(tenant=tenant, now=NOW)
        rollups_refresh_tenant(tenant=other_tenant, now=NOW)
    tz = ZoneInfo(zone)
    for ids in (None, [tenant.pk]):
        day_start = NOW.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        rolled, _ = _split_month(tenant_ids=ids, month_start=day_start.replace(day=1), before=NOW)
        assert rolled is not None  # the month's final days do come from the rollups
        fast = usage_dashboard(tenant_ids=ids, tz=tz, now=NOW)
        _forget_rollups()
        slow = usage_dashboard(tenant_ids=ids, tz=tz, now=NOW)
        with mock.patch.object(timezone, "now", return_value=NOW):
            rollups_refresh_tenant(tenant=tenant, now=NOW)
            rollups_refresh_tenant(tenant=other_tenant, now=NOW)
        assert fast["requests_month"] > fast["requests_today"] > 0
        assert fast["saved_month"] > 0
        assert fast == slow, (zone, ids)


@pytest.mark.django_db
def test_tags_together_with_a_tag_come_from_tag_sets_once_re_rolled(tenant, other_tenant):
    """group_by=tag with a tag filter: from the tag-set rollups (layout 2); a tenant rolled with
    layout 1 reads it from events until the next rollup run, while its other tag reads keep
    using the tag rollups."""
    _seed(tenant, other_tenant)
    rollups_refresh_tenant(tenant=tenant, now=NOW)
    together = {
        "tenant": tenant,
        "start": date(2026, 10, 1),
        "end": NOW.date(),
        "group_by": "tag",
        "filters": UsageFilters(tag="eval"),
    }
    alone = {**together, "filters": UsageFilters()}
    expected = usage_aggregates.usage_aggregate(**together)
    # ["batch", "eval"] and ["prod", "eval"] events: eval occurs with both.
    assert [row["tag"] for row in expected["results"]] == ["batch", "eval", "prod"]
    DailyTagSetRollup.objects.all().delete()
    RollupState.objects.filter(tenant=tenant).update(layout=1)
    with mock.patch.object(usage_aggregates, "_rollup_aggregate") as from_rollups:
        assert usage_aggregates.usage_aggregate(**together) == expected
    assert not from_rollups.called
    with mock.patch.object(
        usage_aggregates, "_rollup_aggregate", wraps=usage_aggregates._rollup_aggregate
    ) as from_rollups:
        usage_aggregates.usage_aggregate(**alone)
    assert from_rollups.called
    with mock.patch.object(timezone, "now", return_value=NOW):
        rollups_refresh_tenant(tenant=tenant, now=NOW)
    assert DailyTagSetRollup.objects.filter(tenant=tenant, day__lte=date(2026, 11, 21)).exists()
    with mock.patch.object(
        usage_aggregates, "_rollup_aggregate", wraps=usage_aggregates._rollup_aggregate
    ) as from_rollups:
        assert usage_aggregates.usage_aggregate(**together) == expected
    assert from_rollups.called
