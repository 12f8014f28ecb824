"""API test fixtures: a small priced catalog and clients for each kind of caller."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from billing.models import UsageEvent
from llm.models import LLMModel, Provider, RoutingConfig, WireFormat
from tenants.services import api_key_create


@pytest.fixture
def small_catalog(db):
    """Two providers and a few priced models (the contract's examples), independent of the
    shipped catalog so these tests pin exact prices."""
    openai = Provider.objects.create(
        slug="openai",
        name="OpenAI",
        wire_format=WireFormat.OPENAI_CHAT,
        base_url="https://api.openai.com/v1",
    )
    anthropic = Provider.objects.create(
        slug="anthropic",
        name="Anthropic",
        wire_format=WireFormat.ANTHROPIC_MESSAGES,
        base_url="https://api.anthropic.com/v1",
    )
    rows = [
        (
            openai,
            "gpt-4o-mini",
            "0.15",
            "0.60",
            "0.075",
            ["tools", "vision", "json_mode", "streaming"],
            "fast",
        ),
        (
            openai,
            "gpt-4.1",
            "2.00",
            "8.00",
            "0.50",
            ["tools", "vision", "json_mode", "streaming"],
            "medium",
        ),
        (anthropic, "claude-haiku-4-5", "1.00", "5.00", "0.10", ["tools", "streaming"], "fast"),
        (
            anthropic,
            "claude-sonnet-4-5",
            "3.00",
            "15.00",
            "0.30",
            ["tools", "vision", "streaming"],
            "medium",
        ),
    ]
    for provider, model_id, inp, out, cached, caps, speed in rows:
        LLMModel.objects.create(
            provider=provider,
            model_id=model_id,
            context_window=128000,
            max_output_tokens=16384,
            input_price_per_1m=Decimal(inp),
            output_price_per_1m=Decimal(out),
            cached_input_price_per_1m=Decimal(cached),
            capabilities=caps,
            speed_tier=speed,
            quality_tier="good",
        )
    return {"openai": openai, "anthropic": anthropic}


def _session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner):
    return _session_client(owner)


@pytest.fixture
def member_client(member):
    return _session_client(member)


@pytest.fixture
def outsider_client(outsider):
    return _session_client(outsider)


@pytest.fixture
def operator_client(operator):
    return _session_client(operator)


@pytest.fixture
def key_client(tenant):
    """key_client("read", "manage") -> a client with a fresh key of the tenant."""

    def make(*scopes: str, for_tenant=None) -> APIClient:
        _key, secret = api_key_create(tenant=for_tenant or tenant, scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


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
