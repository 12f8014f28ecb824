"""Property: for random events across token classes, models, time zones and key sources, the
statement's rounded lines sum to its total, its usage lines cost exactly what the events cost,
and markup applies to platform spend only."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import UsageEvent
from billing.services.statement_lines import statement_draft_compute
from billing.tests.services.statement_support import MODELS, usage_event
from core.calendar import month_window
from core.money import money_cents
from tenants.services import tenant_create

ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham")

events = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(min_value=-24 * 60, max_value=31 * 24 * 60),
            "model": st.sampled_from(MODELS),
            "key_source": st.sampled_from(["platform", "byok"]),
            "status": st.sampled_from(["success", "fallback_success", "error", "cache_hit"]),
            "uncached": st.integers(min_value=0, max_value=3_000_000),
            "cached": st.integers(min_value=0, max_value=500_000),
            "write": st.integers(min_value=0, max_value=500_000),
            "output": st.integers(min_value=0, max_value=200_000),
            "reasoning_share": st.integers(min_value=0, max_value=100),
        }
    ),
    max_size=25,
)


class _Rollback(Exception):
    pass


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=events,
    zone=st.sampled_from(ZONES),
    markup=st.decimals(min_value=0, max_value=50, places=2),
    fee=st.sampled_from([Decimal(0), Decimal("0.0015")]),
)
def test_statement_sums(priced_catalog, events, zone, markup, fee):
    try:
        with transaction.atomic():
            _check(events=events, zone=zone, markup=markup, fee=fee)
            raise _Rollback
    except _Rollback:
        pass


def _check(*, events, zone, markup, fee):
    tenant = tenant_create(slug="prop", name="Prop", timezone_name=zone)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for spec in events:
        usage_event(
            tenant,
            at=start + timedelta(minutes=spec["minute"]),
            model=spec["model"],
            key_source=spec["key_source"],
            status=spec["status"],
            input_tokens=spec["uncached"] + spec["cached"] + spec["write"],
            cached_tokens=spec["cached"],
            cache_write_tokens=spec["write"],
            output_tokens=spec["output"],
            reasoning_tokens=spec["output"] * spec["reasoning_share"] // 100,
        )
    window = month_window(month="2026-11", tz=tenant.tzinfo)
    draft = statement_draft_compute(
        tenant=tenant, start=window.start, end=window.end, markup_pct=markup, byok_fee=fee
    )
    inside = UsageEvent.objects.filter(
        tenant=tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    event_cost = sum((e.cost_usd for e in inside), Decimal(0))
    platform_cost = sum((e.cost_usd for e in inside if e.key_source == "platform"), Decimal(0))

    assert draft.total == sum(money_cents(line.amount_full) for line in draft.lines)
    assert all(line.amount == money_cents(line.amount_full) for line in draft.lines)
    usage = [line for line in draft.lines if line.kind in ("usage", "metering")]
    assert sum(line.cost_usd for line in usage) == event_cost  # exactly
    assert draft.usage_cost_usd == event_cost
    assert all(line.amount_full == 0 for line in usage if line.key_source == "byok")
    markup_lines = [line for line in draft.lines if line.kind == "markup"]
    assert sum(line.amount_full for line in markup_lines) == platform_cost * markup / 100
    served_byok = [
        e for e in inside if e.key_source == "byok" and e.status != UsageEvent.Status.CACHE_HIT
    ]
    assert draft.total_full == platform_cost * (1 + markup / 100) + fee * len(served_byok)
    assert draft.counts["usage_events"] == len(inside)
