"""Shared builders of the router tests: a hand-built catalog and configs (no database), and the
`route` shorthand over them. (The database rows are tests.support.catalog's.)"""

from decimal import Decimal

from llm.services.request_features import RequestFeatures
from llm.services.router import route_request
from llm.services.routing_hints import RoutingHints
from llm.services.routing_snapshots import CatalogIndex, ConfigInfo, ModelInfo

ALL_CAPS = ("tools", "vision", "json_mode", "streaming")


def mi(
    qid,
    *,
    ctx=128000,
    out=16384,
    inp="1",
    outp="2",
    cached=None,
    caps=ALL_CAPS,
    speed="fast",
    quality="good",
):
    provider, model_id = qid.split("/", 1)
    return ModelInfo(
        qualified_id=qid,
        provider_slug=provider,
        model_id=model_id,
        model_pk=abs(hash(qid)) % 10_000,
        provider_pk=abs(hash(provider)) % 10_000,
        wire_format="openai_chat",
        base_url=f"https://{provider}.example/v1",
        auth_style="bearer",
        api_key_env=f"{provider.upper()}_API_KEY",
        base_url_env=f"TOLLGATE_{provider.upper()}_BASE_URL",
        context_window=ctx,
        max_output_tokens=out,
        input_price_per_1m=None if inp is None else Decimal(inp),
        output_price_per_1m=None if outp is None else Decimal(outp),
        cached_input_price_per_1m=None if cached is None else Decimal(cached),
        capabilities=tuple(caps),
        speed_tier=speed,
        quality_tier=quality,
    )


MINI = mi("openai/gpt-4o-mini", inp="0.15", outp="0.60", cached="0.075")


GPT41 = mi(
    "openai/gpt-4.1",
    ctx=1047576,
    out=32768,
    inp="2.00",
    outp="8.00",
    cached="0.50",
    speed="medium",
    quality="best",
)


NANO = mi(
    "openai/gpt-4.1-nano",
    ctx=1047576,
    out=32768,
    inp="0.10",
    outp="0.40",
    caps=("tools", "json_mode"),
    speed="medium",
    quality="basic",
)


HAIKU = mi(
    "anthropic/claude-haiku-4-5", ctx=200000, out=64000, inp="1", outp="5", caps=("tools", "vision")
)


SONNET = mi(
    "anthropic/claude-sonnet-4-5",
    ctx=200000,
    out=64000,
    inp="3",
    outp="15",
    caps=("tools", "vision"),
    speed="medium",
    quality="best",
)


FLASH = mi("google/gemini-2.5-flash", ctx=1048576, out=65536, inp="0.30", outp="2.50")


LLAMA = mi(
    "groq/llama-small", ctx=8192, out=8192, inp="0.05", outp="0.08", caps=(), quality="basic"
)


MYSTERY = mi("openai/mystery", inp=None, outp=None)


SHARED_A = mi("groq/shared-model", inp="0.1", outp="0.1")


SHARED_B = mi("together/shared-model", inp="0.2", outp="0.2")


CATALOG = CatalogIndex(
    [MINI, GPT41, NANO, HAIKU, SONNET, FLASH, LLAMA, MYSTERY, SHARED_A, SHARED_B],
    inactive_refs=["openai/gpt-3.5-turbo", "gpt-3.5-turbo"],
)


def cfg(
    name="default",
    *,
    is_default=True,
    primary="openai/gpt-4o-mini",
    fallbacks=(),
    rules=(),
    params=None,
    byok=False,
    ttl=0,
    pk=1,
):
    return ConfigInfo(
        pk=pk,
        name=name,
        is_default=is_default,
        primary_model=primary,
        fallback_models=tuple(fallbacks),
        use_byok=byok,
        params=params or {},
        rules=list(rules),
        cache_ttl_seconds=ttl,
    )


def feats(
    tokens=100, *, tools=False, images=False, json_mode=False, complexity="low", max_tokens=None
):
    return RequestFeatures(
        estimated_input_tokens=tokens,
        has_tools=tools,
        has_images=images,
        json_mode=json_mode,
        complexity=complexity,
        requested_max_tokens=max_tokens,
    )


def route(model, configs, *, hints=None, features=None, budget=None, rng=None):
    return route_request(
        requested_model=model,
        configs=configs,
        catalog=CATALOG,
        hints=hints or RoutingHints(),
        features=features or feats(),
        budget_used_pct=budget,
        rng=rng,
    )


def ids(decision):
    return [m.qualified_id for m in decision.candidates]


CONTRACT_RULES = [
    {"when": {"task": "code"}, "route": {"model": "openai/gpt-4.1"}},
    {"when": {"budget_used_pct_gte": 80}, "route": {"model": "openai/gpt-4o-mini"}},
    {
        "when": {"tags_any": ["experiment"]},
        "route": {
            "split": [
                {"model": "openai/gpt-4.1", "weight": 90},
                {"model": "anthropic/claude-sonnet-4-5", "weight": 10},
            ]
        },
    },
]


DEFAULT = cfg(
    primary="openai/gpt-4o-mini",
    fallbacks=["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"],
    params={"temperature": 0.2, "max_tokens": 512},
    rules=CONTRACT_RULES,
    byok=True,
    ttl=60,
)


CODE = cfg("code", is_default=False, primary="openai/gpt-4.1", fallbacks=["gpt-4o-mini"], pk=2)


TEAM = cfg(
    primary="openai/gpt-4o-mini",
    fallbacks=[
        "openai/gpt-4.1",
        "anthropic/claude-haiku-4-5",
        "anthropic/claude-sonnet-4-5",
        "google/gemini-2.5-flash",
        "openai/gpt-4.1-nano",
    ],
)
