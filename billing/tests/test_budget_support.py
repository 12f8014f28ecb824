"""Shared helpers for the billing tests (no tests here)."""

import itertools
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection

from billing.models import Budget, UsageEvent

_ids = itertools.count(1)


def make_event(
    tenant,
    *,
    at: datetime,
    cost: str | Decimal = "0.001",
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    config=None,
    api_key=None,
    key_source: str = "platform",
    input_tokens: int = 100,
    output_tokens: int = 50,
    cached_tokens: int = 0,
    status: str = "success",
    tags: list | None = None,
) -> UsageEvent:
    return UsageEvent.objects.create(
        request_id=f"req-{tenant.pk}-{next(_ids)}-{at.timestamp()}",
        tenant=tenant,
        api_key=api_key,
        config=config,
        requested_model=model,
        model=model,
        provider=provider,
        key_source=key_source,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
        cost_usd=Decimal(cost),
        status=status,
        tags=tags or [],
        created_at=at,
    )


def make_budget(tenant, **kwargs) -> Budget:
    fields = {"scope": "tenant", "period": "monthly", "mode": "strict", "limit_usd": "1.00"}
    fields.update(kwargs)
    budget = Budget(tenant=tenant, **fields)
    budget.full_clean()
    budget.save()
    return budget


def make_key(tenant, name: str = "ci"):
    from tenants.services import api_key_create

    key, _secret = api_key_create(tenant=tenant, scopes=["inference"], name=name)
    return key


@pytest.fixture
def fresh_async_redis():
    """Async Redis clients are per event loop; each test has its own loop."""
    from core import redis as redis_module

    redis_module._pipelined_clients.clear()
    yield
    redis_module._pipelined_clients.clear()


def run_racing(target: Callable[[], object]) -> list[Exception]:
    """Run `target` in two threads at once on PostgreSQL (in one on SQLite, which serialises
    writers); return what they raised. Each thread closes its own database connection."""
    errors: list[Exception] = []

    def guarded() -> None:
        try:
            target()
        except Exception as exc:  # pragma: no cover - the caller asserts there is none
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [
        threading.Thread(target=guarded)
        for _ in range(2 if connection.vendor == "postgresql" else 1)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
