"""The operator dashboard's month totals per tenant (billing/admin_dashboard.py): final days
from the daily rollups, the rest from the events, errors counted from both."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.admin_dashboard import month_totals_by_tenant
from billing.models import UsageEvent
from billing.services.rollups import rollups_refresh_tenant

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _event(tenant, n, at, **fields):
    return UsageEvent.objects.create(
        tenant=tenant,
        request_id=f"month-{n}",
        created_at=at,
        model="openai/gpt-4o-mini",
        provider="openai",
        status=fields.pop("status", "success"),
        cost_usd=fields.pop("cost_usd", Decimal("0.0100")),
    )


@pytest.mark.django_db
def test_rolled_days_and_today_add_up(tenant):
    _event(tenant, 1, datetime(2026, 11, 10, 12, tzinfo=UTC))
    _event(tenant, 2, datetime(2026, 11, 10, 13, tzinfo=UTC), status="error", cost_usd=0)
    _event(tenant, 3, datetime(2026, 10, 31, 12, tzinfo=UTC))  # last month
    rollups_refresh_tenant(tenant=tenant, now=NOW)
    _event(tenant, 4, datetime(2026, 11, 20, 9, tzinfo=UTC), cost_usd=Decimal("0.0005"))
    [row] = month_totals_by_tenant(now=NOW)
    assert (row["requests"], row["failed"]) == (3, 1)
    assert row["cost"] == Decimal("0.0105")
