"""usage/ through the kept open days (billing/selectors/open_day.py): a second call within the
keep window groups only the events that arrived since, and every answer still equals the
events' own sums: after new events, after the rollup watermark moves, for each tenant."""

from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import UsageEvent
from billing.services.rollups import rollups_refresh_tenant
from billing.tests.api.conftest import make_event

URL = "/api/v1/usage/"
_ids = count(1)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def _today(tenant):
    return timezone.localtime(timezone.now(), tenant.tzinfo).date()


def _event(tenant, *, days_ago: int, **fields) -> UsageEvent:
    """An event at local noon `days_ago` days back (today: a second ago)."""
    at = datetime.combine(_today(tenant) - timedelta(days=days_ago), time(12), tenant.tzinfo)
    at = min(at, timezone.now() - timedelta(seconds=1))
    return make_event(tenant, f"open-day-{next(_ids)}", at, **fields)


def _truth(tenant, *, start, group_by: str) -> tuple[dict, dict]:
    """Requests and cost per group and in total, summed here from the tenant's events."""
    groups: dict = defaultdict(lambda: [0, Decimal(0)])
    total = [0, Decimal(0)]
    for e in UsageEvent.objects.filter(tenant=tenant):
        day = timezone.localtime(e.created_at, tenant.tzinfo).date()
        if day < start:
            continue
        values = {"day": [day.isoformat()], "model": [e.model], "tag": e.tags or []}[group_by]
        for value in values:
            groups[value][0] += 1
            groups[value][1] += e.cost_usd
        total[0] += 1
        total[1] += e.cost_usd
    return {k: (r, c) for k, (r, c) in groups.items()}, {"requests": total[0], "cost": total[1]}


def _assert_exact(client, tenant, *, start, group_by: str) -> None:
    params = {"start": start.isoformat(), "end": _today(tenant).isoformat(), "group_by": group_by}
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    body = response.json()
    got = {r[group_by]: (r["requests"], Decimal(r["cost_usd"])) for r in body["results"]}
    groups, total = _truth(tenant, start=start, group_by=group_by)
    assert got == groups
    assert body["totals"]["requests"] == total["requests"]
    assert Decimal(body["totals"]["cost_usd"]) == total["cost"]


def _top_ups(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "billing_usageevent"' in q["sql"] and '"id" >' in q["sql"]
    ]


def _history(tenant, *, cost: str) -> None:
    _event(tenant, days_ago=3, cost_usd=Decimal(cost), tags=["a"])
    _event(
        tenant,
        days_ago=2,
        model="anthropic/claude-haiku-4-5",
        provider="anthropic",
        cost_usd=Decimal("0.02"),
    )
    rollups_refresh_tenant(tenant=tenant)
    _event(tenant, days_ago=0, cost_usd=Decimal("0.0001234567"), tags=["a", "b"])


@pytest.mark.parametrize("group_by", ["model", "day", "tag"])
def test_new_events_in_the_keep_window_are_added(
    owner_client, outsider_client, tenant, other_tenant, group_by
):
    _history(tenant, cost="0.01")
    _history(other_tenant, cost="0.5")
    start = _today(tenant) - timedelta(days=5)
    other_start = _today(other_tenant) - timedelta(days=5)
    _assert_exact(owner_client, tenant, start=start, group_by=group_by)
    _assert_exact(outsider_client, other_tenant, start=other_start, group_by=group_by)
    _event(tenant, days_ago=0, model="anthropic/claude-haiku-4-5", cost_usd=Decimal("0.0000001"))
    _event(tenant, days_ago=0, cost_usd=Decimal("0.0003"), tags=["b", "c"])
    _event(other_tenant, days_ago=0, cost_usd=Decimal("1.25"), tags=["a"])
    with CaptureQueriesContext(connection) as queries:
        _assert_exact(owner_client, tenant, start=start, group_by=group_by)
    assert _top_ups(queries)  # only the newer events were grouped
    _assert_exact(outsider_client, other_tenant, start=other_start, group_by=group_by)
    with CaptureQueriesContext(connection) as queries:
        _assert_exact(owner_client, tenant, start=start, group_by=group_by)
    assert _top_ups(queries) == []  # nothing new


def test_a_moved_watermark_reads_the_open_days_again(owner_client, tenant):
    _event(tenant, days_ago=3, cost_usd=Decimal("0.01"))
    rollups_refresh_tenant(tenant=tenant, now=timezone.now() - timedelta(days=3))
    _event(tenant, days_ago=2, cost_usd=Decimal("0.02"), model="anthropic/claude-haiku-4-5")
    _event(tenant, days_ago=0, cost_usd=Decimal("0.04"))
    start = _today(tenant) - timedelta(days=5)
    _assert_exact(owner_client, tenant, start=start, group_by="model")
    rollups_refresh_tenant(tenant=tenant)  # days 3 .. 1 final now
    _event(tenant, days_ago=0, cost_usd=Decimal("0.0005"), model="anthropic/claude-haiku-4-5")
    with CaptureQueriesContext(connection) as queries:
        _assert_exact(owner_client, tenant, start=start, group_by="model")
    assert _top_ups(queries) == []  # a new watermark: the open days read in full
    with CaptureQueriesContext(connection) as queries:
        _assert_exact(owner_client, tenant, start=start, group_by="day")
    assert _top_ups(queries) == []


def test_a_filtered_read_is_kept_apart(owner_client, tenant):
    _history(tenant, cost="0.01")
    start = (_today(tenant) - timedelta(days=5)).isoformat()
    params = {"start": start, "end": _today(tenant).isoformat(), "group_by": "model"}
    every = owner_client.get(URL, params).json()["totals"]
    anthropic = owner_client.get(URL, {**params, "provider": "anthropic"}).json()["totals"]
    assert anthropic["requests"] == 1 < every["requests"] == 3
    _event(tenant, days_ago=0, provider="anthropic", cost_usd=Decimal("0.003"))
    again = owner_client.get(URL, {**params, "provider": "anthropic"}).json()["totals"]
    assert (again["requests"], Decimal(again["cost_usd"])) == (2, Decimal("0.023"))
    assert owner_client.get(URL, params).json()["totals"]["requests"] == 4
