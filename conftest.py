"""Test set-up for every package: the shared fixtures (tests/support/, registered below), the
Redis client, and per-process state cleared before each test.

Service rules: with REDIS_URL set a test that needs Redis uses it and fails if it is down; in CI
(CI=true) REDIS_URL must be set, so nothing that needs Redis is skipped there.
"""

import os

import pytest
from django.conf import settings

import config.celery  # noqa: F401  (the app the tasks bind to, as in the worker)

# Each fixture is defined once, in the support module named for what it sets up.
pytest_plugins = [
    "tests.support.tenancy",  # tenant, other_tenant, owner, member, outsider, operator
    "tests.support.catalog",  # catalog (shipped), small_catalog, edge_case_catalog, ...
    "tests.support.api",  # owner_client, member_client, ..., key_client
    "tests.support.upstreams",  # openai_upstream, anthropic_upstream, gemini_upstream
    "tests.support.private_services",  # private_postgres, private_redis (fault tests)
]


@pytest.fixture
def redis_client():
    """A client for the test Redis database, flushed before the test. Fails if Redis is down."""
    if not settings.REDIS_URL:
        if os.environ.get("CI"):
            pytest.fail("REDIS_URL must be set in CI")
        pytest.skip("REDIS_URL is not set (embedded default)")
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.ping()
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Per-process short-lived state (breaker health, budget percentages, observed latency),
    which SQLite reuses after a test's rollback: start every test without it."""
    from billing.services.budgets import budget_used_pct_clear_local
    from gateway.services.breaker import breaker_reset_local
    from llm.services.latency import latency_reset_local

    budget_used_pct_clear_local()
    breaker_reset_local()
    latency_reset_local()
    yield
