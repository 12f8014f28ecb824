"""Usage rows for the usage/ and usage/events/ endpoint tests: events either side of the
tenant's local midnight, of two models, one failed, and one of another tenant."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import UsageEvent
from llm.models import RoutingConfig
from tenants.services import api_key_create


def make_event(tenant, request_id, at, **fields):
    values = {
        "tenant": tenant,
        "request_id": request_id,
        "created_at": at,
        "model": "openai/gpt-4o-mini",
        "requested_model": "auto",
        "provider": "openai",
        "status": "success",
        "input_tokens": 100,
        "output_tokens": 10,
        "cost_usd": Decimal("0.0012345678"),
    }
    values.update(fields)
    return UsageEvent.objects.create(**values)


@pytest.fixture
def usage(tenant, other_tenant, small_catalog):
    """Acme is in Europe/Berlin (UTC+1 in November)."""
    config = RoutingConfig.objects.create(tenant=tenant, name="plan", primary_model="gpt-4.1")
    key, _ = api_key_create(tenant=tenant, scopes=["inference"], name="app")
    make_event(
        tenant,
        "r1",
        datetime(2026, 11, 1, 22, 30, tzinfo=UTC),
        tags=["a", "b"],
        config=config,
        api_key=key,
    )
    make_event(
        tenant,
        "r2",
        datetime(2026, 11, 1, 23, 30, tzinfo=UTC),  # local: 2 Nov, 00:30
        tags=["b"],
        model="anthropic/claude-haiku-4-5",
        provider="anthropic",
        cost_usd=Decimal("0.5"),
        cached_tokens=7,
        cache_write_tokens=11,
        reasoning_tokens=3,
        api_key=key,
    )
    make_event(
        tenant,
        "r3",
        datetime(2026, 10, 31, 23, 30, tzinfo=UTC),  # local: 1 Nov, 00:30
        status="error",
        cost_usd=Decimal("0"),
    )
    make_event(tenant, "r-old", datetime(2026, 10, 31, 22, 30, tzinfo=UTC))  # local: 31 Oct
    make_event(
        other_tenant, "theirs", datetime(2026, 11, 1, 12, 0, tzinfo=UTC), cost_usd=Decimal("99")
    )
    return {"config": config, "key": key}
