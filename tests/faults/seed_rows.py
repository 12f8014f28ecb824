"""Seeds a private database with what a gateway needs to serve: three providers and four priced
models (the integration tests' prices), a tenant, a default routing config with a fallback
chain, API keys and budgets. Run by tests/faults/stack.py in a subprocess whose DATABASE_URL
names the database; prints one JSON line with the ids and the keys' secrets.

    python -m tests.faults.seed_rows '{"keys": [{"name": "main"}], "tenant_budget_usd": "0.03"}'

Also `configs` (more routing configs: RoutingConfig fields) and `dead_provider_url` (a provider
`deadco` with one model, at a URL nothing answers; bench/soak.py's fallbacks).
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal

PRICES = {
    # qualified id: (input, output, cached input) per 1M tokens
    "openai/gpt-4o-mini": ("0.15", "0.60", "0.075"),
    "openai/gpt-4.1": ("2.00", "8.00", "0.50"),
    "anthropic/claude-haiku-4-5": ("1.00", "5.00", "0.10"),
    "google/gemini-2.5-flash": ("0.30", "2.50", "0.075"),
}
PROVIDERS = {
    "openai": ("OpenAI", "openai_chat", "https://api.openai.com/v1", "bearer", "OPENAI_API_KEY"),
    "anthropic": (
        "Anthropic",
        "anthropic_messages",
        "https://api.anthropic.com",
        "x_api_key",
        "ANTHROPIC_API_KEY",
    ),
    "google": (
        "Google",
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        "x_goog_api_key",
        "GEMINI_API_KEY",
    ),
}


def seed(spec: dict) -> dict:
    from billing.models import Budget
    from llm.models import LLMModel, Provider, RoutingConfig
    from tenants.services import api_key_create, tenant_create

    providers = {}
    for slug, (name, wire, base_url, auth, env) in PROVIDERS.items():
        providers[slug] = Provider.objects.create(
            slug=slug,
            name=name,
            wire_format=wire,
            base_url=base_url,
            auth_style=auth,
            api_key_env=env,
        )
    for qualified, (price_in, price_out, price_cached) in PRICES.items():
        slug, model_id = qualified.split("/", 1)
        LLMModel.objects.create(
            provider=providers[slug],
            model_id=model_id,
            context_window=128000,
            max_output_tokens=8192,
            input_price_per_1m=Decimal(price_in),
            output_price_per_1m=Decimal(price_out),
            cached_input_price_per_1m=Decimal(price_cached),
            capabilities=["tools", "vision", "json_mode", "streaming"],
        )
    tenant = tenant_create(slug="acme", name="Acme Corp")
    config = RoutingConfig.objects.create(
        tenant=tenant,
        name="default",
        is_default=True,
        primary_model="openai/gpt-4o-mini",
        fallback_models=spec.get(
            "fallback_models", ["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"]
        ),
        cache_ttl_seconds=spec.get("cache_ttl_seconds", 0),
    )
    out: dict = {"tenant_id": tenant.pk, "config_id": config.pk, "keys": {}, "key_ids": {}}
    if spec.get("dead_provider_url"):  # a provider that never answers: its candidates fall back
        dead = Provider.objects.create(
            slug="deadco",
            name="Dead Co",
            wire_format="openai_chat",
            base_url=spec["dead_provider_url"],
            auth_style="bearer",
            api_key_env="OPENAI_API_KEY",
        )
        LLMModel.objects.create(
            provider=dead,
            model_id="m1",
            context_window=128000,
            max_output_tokens=8192,
            input_price_per_1m=Decimal("0.10"),
            output_price_per_1m=Decimal("0.40"),
            capabilities=["streaming"],
        )
    for extra in spec.get("configs", []):
        RoutingConfig.objects.create(tenant=tenant, **extra)
    if spec.get("tenant_budget_usd"):
        Budget.objects.create(
            tenant=tenant,
            period="daily",
            limit_usd=Decimal(spec["tenant_budget_usd"]),
            mode="strict",
        )
    for key_spec in spec.get("keys", [{"name": "main"}]):
        key, secret = api_key_create(tenant=tenant, scopes=["inference"], name=key_spec["name"])
        out["keys"][key_spec["name"]] = secret
        out["key_ids"][key_spec["name"]] = key.pk
        if key_spec.get("budget_usd"):
            Budget.objects.create(
                tenant=tenant,
                scope="key",
                api_key=key,
                period="daily",
                limit_usd=Decimal(key_spec["budget_usd"]),
                mode="strict",
            )
    return out


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    print(json.dumps(seed(json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}"))))
