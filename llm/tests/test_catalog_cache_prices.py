"""Cache-write prices in the catalog: Anthropic's 5-minute (1.25x input) and 1-hour (2x input)
writes in the shipped file, none for OpenAI and Gemini, and the LiteLLM refresh filling them
from `cache_creation_input_token_cost(_above_1hr)`; every change kept in the price history."""

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from llm.models import LLMModel
from llm.services.catalog_file import CATALOG_PATH
from llm.services.model_prices import model_price_at


def test_shipped_anthropic_models_price_cache_writes_by_ttl():
    doc = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    by_slug = {provider["slug"]: provider for provider in doc["providers"]}
    for model in by_slug["anthropic"]["models"]:
        price = model["price"]
        assert Decimal(price["cache_write"]) == Decimal(price["input"]) * Decimal("1.25"), model
        assert Decimal(price["cache_write_1h"]) == Decimal(price["input"]) * 2, model
    for slug in ("openai", "google"):
        for model in by_slug[slug]["models"]:
            if model.get("kind") == "embedding":
                continue
            assert model["price"]["cache_write"] is None, model["id"]
            assert "cache_write_1h" not in model["price"]


@pytest.mark.django_db
def test_loaded_catalog_and_history_carry_the_write_prices():
    call_command("load_catalog", verbosity=0)
    haiku = LLMModel.objects.get(provider__slug="anthropic", model_id="claude-haiku-4-5")
    assert (haiku.cache_write_price_per_1m, haiku.cache_write_1h_price_per_1m) == (
        Decimal("1.25"),
        Decimal("2"),
    )
    quote = model_price_at(model=haiku, at=timezone.now())
    assert (quote.cache_write_price_per_1m, quote.cache_write_1h_price_per_1m) == (
        Decimal("1.25"),
        Decimal("2"),
    )
    mini = LLMModel.objects.get(provider__slug="openai", model_id="gpt-4o-mini")
    assert mini.cache_write_price_per_1m is None


@pytest.mark.django_db
def test_litellm_refresh_fills_cache_write_prices(tmp_path):
    call_command("load_catalog", verbosity=0)
    path = tmp_path / "litellm.json"
    path.write_text(
        json.dumps(
            {
                "claude-haiku-4-5": {
                    "litellm_provider": "anthropic",
                    "mode": "chat",
                    "input_cost_per_token": 1e-06,
                    "output_cost_per_token": 5e-06,
                    "cache_read_input_token_cost": 1e-07,
                    "cache_creation_input_token_cost": 1.5e-06,
                    "cache_creation_input_token_cost_above_1hr": 2.5e-06,
                }
            }
        )
    )
    call_command("load_catalog", from_litellm=str(path), verbosity=0)
    haiku = LLMModel.objects.get(provider__slug="anthropic", model_id="claude-haiku-4-5")
    assert (haiku.cache_write_price_per_1m, haiku.cache_write_1h_price_per_1m) == (
        Decimal("1.5"),
        Decimal("2.5"),
    )
    latest = haiku.price_history.order_by("-effective_from", "-id").first()
    assert latest.cache_write_price_per_1m == Decimal("1.5")
