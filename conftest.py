"""Shared fixtures: an owner, a member and an outsider of another tenant (healthchecks-style).

Service rules: with REDIS_URL set a test that needs Redis uses it and fails if it is down; in CI
(CI=true) REDIS_URL must be set, so nothing that needs Redis is skipped there.
"""

import os

import pytest
from django.conf import settings

# Mock upstream servers (OpenAI, Anthropic, Gemini wire formats) for every test package.
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture
def tenant(db):
    from tenants.services import tenant_create

    return tenant_create(slug="acme", name="Acme Corp", timezone_name="Europe/Berlin")


@pytest.fixture
def other_tenant(db):
    from tenants.services import tenant_create

    return tenant_create(slug="globex", name="Globex", timezone_name="America/New_York")


@pytest.fixture
def owner(tenant, django_user_model):
    from tenants.models import Membership
    from tenants.services import membership_set

    user = django_user_model.objects.create_user(
        username="alice", password="pw-alice-123", is_staff=True
    )
    membership_set(tenant=tenant, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def member(tenant, django_user_model):
    from tenants.models import Membership
    from tenants.services import membership_set

    user = django_user_model.objects.create_user(
        username="bob", password="pw-bob-123", is_staff=True
    )
    membership_set(tenant=tenant, user=user, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def outsider(other_tenant, django_user_model):
    from tenants.models import Membership
    from tenants.services import membership_set

    user = django_user_model.objects.create_user(
        username="mallory", password="pw-mallory-123", is_staff=True
    )
    membership_set(tenant=other_tenant, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser(username="op", password="pw-op-123")


@pytest.fixture
def catalog(db):
    """The shipped catalog, loaded."""
    from django.core.management import call_command

    call_command("load_catalog", verbosity=0)


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
