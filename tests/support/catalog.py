"""Catalog fixtures (the shipped catalog, and small hand-built ones that pin exact prices) and
the routing configs tests build over them. Registered in the root conftest's `pytest_plugins`.

Two hand-built catalogs, because their users pin different facts: `small_catalog` is the API
contract's examples (tests list its models and providers exactly), `edge_case_catalog` puts
the rows routing must refuse (unpriced, inactive, of an inactive provider) beside usable ones.
"""

from decimal import Decimal
from typing import Any

import pytest

from llm.models import LLMModel, Provider, RoutingConfig, WireFormat

OPENAI: dict[str, Any] = {
    "slug": "openai",
    "name": "OpenAI",
    "wire_format": WireFormat.OPENAI_CHAT,
    "base_url": "https://api.openai.com/v1",
}
# Model size fields where a test does not care about them.
WINDOW: dict[str, int] = {"context_window": 128000, "max_output_tokens": 16384}


@pytest.fixture
def catalog(db) -> None:
    """The shipped catalog, loaded."""
    from django.core.management import call_command

    call_command("load_catalog", verbosity=0)


@pytest.fixture
def openai_provider(db) -> Provider:
    """OpenAI with its platform key variable, and no models."""
    return Provider.objects.create(**OPENAI, api_key_env="OPENAI_API_KEY")


@pytest.fixture
def small_catalog(db) -> dict[str, Provider]:
    """Two providers and a few priced models (the contract's examples), independent of the
    shipped catalog so these tests pin exact prices."""
    openai = Provider.objects.create(**OPENAI)
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
            **WINDOW,
            input_price_per_1m=Decimal(inp),
            output_price_per_1m=Decimal(out),
            cached_input_price_per_1m=Decimal(cached),
            capabilities=caps,
            speed_tier=speed,
            quality_tier="good",
        )
    return {"openai": openai, "anthropic": anthropic}


@pytest.fixture
def edge_case_catalog(openai_provider: Provider) -> None:
    """Usable models (openai/gpt-4o-mini, openai/gpt-4.1, anthropic/claude-haiku-4-5) beside
    openai/mystery (no price), openai/gpt-3.5-turbo (inactive) and retired/old-model (its
    provider is inactive)."""
    anthropic = Provider.objects.create(
        slug="anthropic",
        name="Anthropic",
        wire_format=WireFormat.ANTHROPIC_MESSAGES,
        base_url="https://api.anthropic.com",
        auth_style="x_api_key",
        api_key_env="ANTHROPIC_API_KEY",
    )
    retired = Provider.objects.create(
        slug="retired",
        name="Retired",
        wire_format=WireFormat.OPENAI_CHAT,
        base_url="https://retired.example/v1",
        is_active=False,
    )
    LLMModel.objects.create(
        provider=openai_provider,
        model_id="gpt-4o-mini",
        input_price_per_1m=Decimal("0.15"),
        output_price_per_1m=Decimal("0.60"),
        cached_input_price_per_1m=Decimal("0.075"),
        capabilities=["tools", "vision", "json_mode"],
        speed_tier="fast",
        quality_tier="good",
        **WINDOW,
    )
    LLMModel.objects.create(
        provider=openai_provider,
        model_id="gpt-4.1",
        input_price_per_1m=Decimal("2"),
        output_price_per_1m=Decimal("8"),
        quality_tier="best",
        **WINDOW,
    )
    LLMModel.objects.create(provider=openai_provider, model_id="mystery", **WINDOW)
    LLMModel.objects.create(
        provider=openai_provider,
        model_id="gpt-3.5-turbo",
        input_price_per_1m=Decimal("0.5"),
        output_price_per_1m=Decimal("1.5"),
        is_active=False,
        **WINDOW,
    )
    LLMModel.objects.create(
        provider=anthropic,
        model_id="claude-haiku-4-5",
        input_price_per_1m=Decimal("1"),
        output_price_per_1m=Decimal("5"),
        **WINDOW,
    )
    LLMModel.objects.create(
        provider=retired,
        model_id="old-model",
        input_price_per_1m=Decimal("1"),
        output_price_per_1m=Decimal("1"),
        **WINDOW,
    )


def config_build(tenant, **fields) -> RoutingConfig:
    """An unsaved config ("default", serving openai/gpt-4o-mini): for tests of validation."""
    values = {"tenant": tenant, "name": "default", "primary_model": "openai/gpt-4o-mini"}
    values.update(fields)
    return RoutingConfig(**values)


def config_create(tenant, *, validate: bool = True, **fields) -> RoutingConfig:
    """A config validated against the catalog, as the API and admin would, then saved;
    `validate=False` saves it unchecked, for tests that need a config but no catalog."""
    config = config_build(tenant, **fields)
    if validate:
        config.full_clean()
    config.save()
    return config
