"""Usage for the console tests: events on past days (rolled up) and today (raw), in the
tenant's time zone, with exact costs, so each page's figures can be checked to the cent."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from itertools import count

from django.utils import timezone

from billing.models import UsageEvent
from billing.services.rollups import rollups_refresh_tenant

_ids = count(1)


def local_today(tenant):
    return timezone.localtime(timezone.now(), tenant.tzinfo).date()


def event_at(tenant, *, days_ago: int, hour: int = 12, **fields) -> UsageEvent:
    """One event `days_ago` local days back (today at most at the current hour)."""
    day = local_today(tenant) - timedelta(days=days_ago)
    at = datetime.combine(day, time(hour=hour), tzinfo=tenant.tzinfo)
    now = timezone.now()
    if at > now:
        at = now - timedelta(seconds=1)
    values = {
        "tenant": tenant,
        "request_id": f"console-test-{next(_ids)}",
        "created_at": at,
        "model": "openai/gpt-4o-mini",
        "requested_model": "auto",
        "provider": "openai",
        "status": "success",
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": Decimal("0.0065"),
        "latency_ms": 200,
    }
    values.update(fields)
    return UsageEvent.objects.create(**values)


def usage_history(tenant, *, api_key=None, config=None) -> dict:
    """Events on two past days (then rolled up) and today; returns the expected figures."""
    event_at(tenant, days_ago=3, cost_usd=Decimal("0.0100"), api_key=api_key, config=config)
    event_at(
        tenant,
        days_ago=3,
        model="anthropic/claude-haiku-4-5",
        provider="anthropic",
        cost_usd=Decimal("0.0200"),
        tags=["exp"],
        api_key=api_key,
    )
    event_at(tenant, days_ago=2, status="error", cost_usd=Decimal(0), api_key=api_key)
    event_at(tenant, days_ago=2, status="fallback_success", cost_usd=Decimal("0.0035"))
    rollups_refresh_tenant(tenant=tenant)
    event_at(tenant, days_ago=0, hour=0, cost_usd=Decimal("0.0065"), api_key=api_key, tags=["exp"])
    return {
        "requests": 5,
        "cost": Decimal("0.0400"),
        "today": Decimal("0.0065"),
        "by_model": {
            "openai/gpt-4o-mini": Decimal("0.0200"),
            "anthropic/claude-haiku-4-5": Decimal("0.0200"),
        },
        "by_provider": {"openai": Decimal("0.0200"), "anthropic": Decimal("0.0200")},
        "errors": 1,
        "fallbacks": 1,
    }
