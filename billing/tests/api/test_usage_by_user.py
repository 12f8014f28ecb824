"""usage/?group_by=user and the `user` filter: per end user sums equal the events, also when
the days are rolled up (final days from the end-user rollups, later days from the events)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import DailyUserRollup, UsageEvent
from billing.selectors.rollup_state import rolled_through
from billing.services.rollups import rollups_refresh_tenant
from billing.tests.api.conftest import make_event

URL = "/api/v1/usage/"
NOV = {"start": "2026-11-01", "end": "2026-11-30"}
USERS = ["alice", "bob", "", "carol@example.com"]


@pytest.fixture
def user_events(tenant, other_tenant, small_catalog):
    at = datetime(2026, 11, 3, 12, tzinfo=UTC)
    for i in range(24):
        make_event(
            tenant,
            f"u{i}",
            at + timedelta(hours=i),
            end_user=USERS[i % len(USERS)],
            input_tokens=10 + i,
            output_tokens=i,
            cost_usd=Decimal("0.0001234567") * (i + 1),
        )
    make_event(other_tenant, "x1", at, end_user="alice", cost_usd=Decimal(5))


def _sums(events) -> dict:
    return {
        "requests": len(events),
        "input_tokens": sum(e.input_tokens for e in events),
        "output_tokens": sum(e.output_tokens for e in events),
        "cost_usd": sum((e.cost_usd for e in events), Decimal(0)),
    }


def _row_sums(row: dict) -> dict:
    keys = ("requests", "input_tokens", "output_tokens")
    return {**{k: row[k] for k in keys}, "cost_usd": Decimal(row["cost_usd"])}


def _check(client, tenant):
    body = client.get(URL, {"group_by": "user", **NOV}).json()
    rows = {row["user"]: row for row in body["results"]}
    assert set(rows) == set(USERS)
    for user in USERS:
        events = list(UsageEvent.objects.filter(tenant=tenant, end_user=user))
        assert _row_sums(rows[user]) == _sums(events), user
    assert _row_sums(body["totals"]) == _sums(list(UsageEvent.objects.filter(tenant=tenant)))
    alice = client.get(URL, {"group_by": "model", "user": "alice", **NOV}).json()
    events = list(UsageEvent.objects.filter(tenant=tenant, end_user="alice"))
    assert _row_sums(alice["totals"]) == _sums(events)


def test_group_by_user_sums_equal_the_events(owner_client, tenant, user_events):
    _check(owner_client, tenant)


def test_group_by_user_after_rollups(owner_client, tenant, user_events):
    rollups_refresh_tenant(tenant=tenant, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert rolled_through(tenant=tenant) is not None
    _check(owner_client, tenant)


def test_user_filter_is_bounded(owner_client, user_events):
    response = owner_client.get(URL, {"user": "x" * 129})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_group_by_user_reads_the_user_rollups_across_the_watermark(
    owner_client, tenant, user_events
):
    """Final days from the end-user rollups, the open days from the events: the sums still
    equal the events after the final days' raw events are gone (as retention purges them)."""
    late = datetime(2026, 11, 20, 9, tzinfo=UTC)
    for i, user in enumerate(["alice", "dave", ""]):
        make_event(tenant, f"late{i}", late, end_user=user, cost_usd=Decimal("0.5") * (i + 1))
    expected = {
        user: _sums(list(UsageEvent.objects.filter(tenant=tenant, end_user=user)))
        for user in [*USERS, "dave"]
    }
    rollups_refresh_tenant(tenant=tenant, now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    watermark = rolled_through(tenant=tenant)
    assert watermark is not None and watermark < late.date()  # the 20th is still open
    assert DailyUserRollup.objects.filter(tenant=tenant, end_user="alice").exists()
    UsageEvent.objects.filter(tenant=tenant, created_at__lt=late).delete()
    body = owner_client.get(URL, {"group_by": "user", **NOV}).json()
    rows = {row["user"]: _row_sums(row) for row in body["results"]}
    assert rows == expected
    assert _row_sums(body["totals"]) == {
        k: sum(e[k] for e in expected.values())
        for k in ("requests", "input_tokens", "output_tokens", "cost_usd")
    }
    bob = owner_client.get(URL, {"group_by": "day", "user": "bob", **NOV}).json()
    assert _row_sums(bob["totals"]) == expected["bob"]
