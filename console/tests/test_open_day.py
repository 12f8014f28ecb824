"""The open days' grouped events kept between page loads (billing/selectors/open_day.py):
topped up with only the events that arrived since, exact after the top-up, re-read in full
when the kept read no longer matches the events (or is older than REFRESH_SECONDS)."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import UsageEvent
from billing.selectors import open_day
from billing.services.rollups import rollups_refresh_tenant
from console.selectors.dashboard import tenant_dashboard
from console.tests.support import event_at, local_today, usage_history


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def _event_reads(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "billing_usageevent"' in q["sql"]
        and "GROUP BY" in q["sql"]
        and "end_user" not in q["sql"]
    ]


def test_a_second_load_reads_only_the_new_events(tenant, history):
    assert tenant_dashboard(tenant=tenant)["spend_today"] == history["today"]
    newest = event_at(tenant, days_ago=0, hour=0, cost_usd=Decimal("0.0011"))
    with CaptureQueriesContext(connection) as queries:
        d = tenant_dashboard(tenant=tenant)
    assert d["spend_today"] == history["today"] + Decimal("0.0011")
    assert d["kpis"]["requests"] == history["requests"] + 1
    [read] = _event_reads(queries)
    assert '"id" >' in read  # the top-up: after the kept read's last id
    with CaptureQueriesContext(connection) as queries:
        assert tenant_dashboard(tenant=tenant)["spend_today"] == d["spend_today"]
    assert _event_reads(queries) == []  # nothing new: nothing grouped
    assert newest.pk


def test_a_kept_read_of_other_events_is_not_used(tenant, history, monkeypatch):
    tenant_dashboard(tenant=tenant)
    latest = open_day._latest()
    # The same newest id, another event (the database replaced under a kept cache).
    monkeypatch.setattr(open_day, "_latest", lambda: (latest[0], "someone-else"))
    with CaptureQueriesContext(connection) as queries:
        d = tenant_dashboard(tenant=tenant)
    [read] = _event_reads(queries)
    assert '"id" >' not in read  # read again in full
    assert d["spend_today"] == history["today"]


def test_an_old_read_is_read_again(tenant, history, settings):
    settings.TOLLGATE_CONSOLE_OPEN_DAY_SECONDS = 0.05
    tenant_dashboard(tenant=tenant)
    time.sleep(0.1)
    with CaptureQueriesContext(connection) as queries:
        tenant_dashboard(tenant=tenant)
    [read] = _event_reads(queries)
    assert '"id" >' not in read


def test_switched_off_every_load_reads_the_range(tenant, history, settings):
    settings.TOLLGATE_CONSOLE_OPEN_DAY_SECONDS = 0
    tenant_dashboard(tenant=tenant)
    with CaptureQueriesContext(connection) as queries:
        tenant_dashboard(tenant=tenant)
    [read] = _event_reads(queries)
    assert '"id"' not in read.split("WHERE", 1)[1].split("GROUP BY")[0]


def _explorer_totals(client, tenant, *, group_by: str = "model") -> dict[str, tuple]:
    """The explorer's CSV, as {group: (requests, cost)}, its total row included."""
    url = reverse("console:usage", kwargs={"slug": tenant.slug})
    start = (local_today(tenant) - timedelta(days=5)).isoformat()
    response = client.get(url, {"start": start, "group_by": group_by, "format": "csv"})
    lines = b"".join(response.streaming_content).decode().splitlines()[1:]
    return {c[0]: (int(c[1]), Decimal(c[5])) for c in (line.split(",") for line in lines)}


def _events_by_model(tenant) -> dict[str, tuple]:
    """The same figures, summed here from the tenant's events."""
    out: dict[str, list] = {}
    for model, cost in UsageEvent.objects.filter(tenant=tenant).values_list("model", "cost_usd"):
        for group in (model, "total"):
            into = out.setdefault(group, [0, Decimal(0)])
            into[0] += 1
            into[1] += cost
    return {group: tuple(values) for group, values in out.items()}


def test_the_explorer_adds_new_events_exactly(
    client, tenant, other_tenant, owner, outsider, history
):
    usage_history(other_tenant)
    client.force_login(owner)
    assert _explorer_totals(client, tenant) == _events_by_model(tenant)
    event_at(tenant, days_ago=0, hour=0, cost_usd=Decimal("0.0000123"))
    event_at(other_tenant, days_ago=0, hour=0, cost_usd=Decimal("2.5"))
    with CaptureQueriesContext(connection) as queries:
        assert _explorer_totals(client, tenant) == _events_by_model(tenant)
    assert any('"id" >' in read for read in _event_reads(queries))  # topped up
    client.force_login(outsider)
    assert _explorer_totals(client, other_tenant) == _events_by_model(other_tenant)


def test_cache_savings_are_topped_up(tenant, history):
    event_at(tenant, days_ago=3, status="cache_hit", cost_usd=0, saved_usd=Decimal("0.25"))
    rollups_refresh_tenant(tenant=tenant)
    event_at(tenant, days_ago=0, hour=0, status="cache_hit", cost_usd=0, saved_usd=Decimal("0.5"))
    event_at(tenant, days_ago=40, status="cache_hit", cost_usd=0, saved_usd=Decimal("9"))
    assert tenant_dashboard(tenant=tenant)["saved"] == Decimal("0.75")
    event_at(tenant, days_ago=0, hour=0, status="cache_hit", cost_usd=0, saved_usd=Decimal("0.01"))
    assert tenant_dashboard(tenant=tenant)["saved"] == Decimal("0.76")
