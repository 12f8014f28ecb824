"""The router: model names, rules and actions, splits, priorities, context and capabilities.

Most tests are pure (a hand-built CatalogIndex, no database); the loaders and route_preview use a
small catalog of Provider/LLMModel rows built here.
"""

import random
from collections import Counter
from decimal import Decimal

import pytest

from core.errors import InvalidRequest, ModelNotAllowed
from gateway.services.route_preview import route_preview
from llm.services.router import (
    CatalogIndex,
    ConfigInfo,
    ModelInfo,
    RequestFeatures,
    RoutingHints,
    catalog_index_load,
    complexity_estimate,
    config_for_model,
    estimate_cost,
    rank_models,
    request_features_from,
    route_request,
    routing_hints_from,
    tenant_configs_load,
)

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


# blended (3:1) prices: mini 0.2625, gpt-4.1 3.5, nano 0.175, haiku 2, sonnet 6, flash 0.85,
# llama-small 0.0575
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


# --- model names -------------------------------------------------------------------------------


def test_auto_uses_the_default_config():
    decision = route("auto", [CODE, DEFAULT])
    assert decision.config is DEFAULT
    assert ids(decision) == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "google/gemini-2.5-flash",
    ]
    assert decision.rule_index is None
    assert decision.params == {"temperature": 0.2, "max_tokens": 512}
    assert decision.use_byok is True
    assert decision.cache_ttl_seconds == 60
    assert decision.reason == "config default: no rule matched -> primary openai/gpt-4o-mini"


def test_auto_without_default_config_names_the_fix():
    with pytest.raises(InvalidRequest, match="is_default"):
        route("auto", [CODE])


def test_config_name():
    decision = route("code", [CODE, DEFAULT])
    assert decision.config is CODE
    assert ids(decision) == ["openai/gpt-4.1", "openai/gpt-4o-mini"]
    assert decision.use_byok is False
    assert decision.reason == "config code: primary openai/gpt-4.1"


@pytest.mark.parametrize("ref", ["gpt-4o-mini", "openai/gpt-4o-mini", "  gpt-4o-mini "])
def test_catalog_model_directly_uses_default_settings_and_fallbacks(ref):
    decision = route(ref, [CODE, DEFAULT])
    assert decision.config is DEFAULT
    # the requested model first, then the default's fallbacks (deduplicated); rules do not apply
    assert ids(decision) == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "google/gemini-2.5-flash",
    ]
    assert decision.params == DEFAULT.params
    assert decision.use_byok is True
    assert decision.reason.startswith("requested openai/gpt-4o-mini directly")


def test_catalog_model_directly_dedupes_against_default_fallbacks():
    decision = route("anthropic/claude-haiku-4-5", [DEFAULT])
    assert ids(decision) == ["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"]


def test_catalog_model_without_any_config():
    decision = route("gpt-4.1", [])
    assert decision.config is None
    assert ids(decision) == ["openai/gpt-4.1"]
    assert decision.params == {}
    assert decision.use_byok is False
    assert decision.cache_ttl_seconds == 0


def test_config_name_wins_over_a_catalog_id():
    shadow = cfg("gpt-4o-mini", is_default=False, primary="openai/gpt-4.1", pk=9)
    assert ids(route("gpt-4o-mini", [shadow]))[0] == "openai/gpt-4.1"


def test_unknown_model_names_it_and_the_configs():
    with pytest.raises(InvalidRequest) as excinfo:
        route("gpt-17", [CODE, DEFAULT])
    message = excinfo.value.message
    assert "'gpt-17'" in message
    assert "auto, code, default" in message
    assert excinfo.value.status == 400


def test_ambiguous_bare_id_lists_the_choices():
    with pytest.raises(InvalidRequest, match="groq/shared-model, together/shared-model"):
        route("shared-model", [DEFAULT])
    assert ids(route("together/shared-model", [DEFAULT]))[0] == "together/shared-model"


@pytest.mark.parametrize("ref", ["openai/gpt-3.5-turbo", "gpt-3.5-turbo", "openai/mystery"])
def test_existing_but_unusable_model_is_forbidden(ref):
    with pytest.raises(ModelNotAllowed) as excinfo:
        route(ref, [DEFAULT])
    assert excinfo.value.status == 403
    assert excinfo.value.code == "model_not_allowed"


@pytest.mark.parametrize("ref", ["", "   ", None])
def test_missing_model(ref):
    with pytest.raises(InvalidRequest, match="'model' is required"):
        route(ref, [DEFAULT])


def test_config_for_model():
    assert config_for_model(requested_model="auto", configs=[CODE, DEFAULT]) is DEFAULT
    assert config_for_model(requested_model="code", configs=[CODE, DEFAULT]) is CODE
    assert config_for_model(requested_model="gpt-4.1", configs=[CODE, DEFAULT]) is DEFAULT
    assert config_for_model(requested_model="auto", configs=[CODE]) is None


# --- rules and actions ---------------------------------------------------------------------


def test_rule_model_and_reason():
    decision = route("auto", [DEFAULT], hints=RoutingHints(task="code"))
    assert decision.rule_index == 0
    assert decision.reason == "rule 0 (task=code) -> openai/gpt-4.1"
    # then the config's primary and fallbacks
    assert ids(decision) == [
        "openai/gpt-4.1",
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "google/gemini-2.5-flash",
    ]


def test_first_match_wins():
    # task=code and budget >= 80 both hold: rule 0 decides
    decision = route("auto", [DEFAULT], hints=RoutingHints(task="code"), budget=Decimal(95))
    assert decision.rule_index == 0
    decision = route("auto", [DEFAULT], hints=RoutingHints(task="chat"), budget=Decimal(95))
    assert decision.rule_index == 1
    assert ids(decision)[0] == "openai/gpt-4o-mini"
    assert route("auto", [DEFAULT], budget=Decimal("79.99")).rule_index is None
    assert route("auto", [DEFAULT], budget=None).rule_index is None


def test_rules_apply_to_named_configs_too():
    named = cfg(
        "plan",
        is_default=False,
        primary="gpt-4o-mini",
        rules=[{"when": {"tags_all": ["a", "b"]}, "route": {"model": "gpt-4.1"}}],
    )
    assert route("plan", [named], hints=RoutingHints(tags=("b", "A"))).rule_index == 0
    assert route("plan", [named], hints=RoutingHints(tags=("b",))).rule_index is None


@pytest.mark.parametrize(
    ("when", "features", "budget", "hints"),
    [
        ({"task": ["sql", "code"]}, feats(), None, RoutingHints(task="SQL")),
        ({"tags_any": ["x", "y"]}, feats(), None, RoutingHints(tags=("y",))),
        ({"tags_all": ["x", "y"]}, feats(), None, RoutingHints(tags=("y", "x", "z"))),
        ({"priority": "speed"}, feats(), None, RoutingHints(priority="speed")),
        ({"budget_used_pct_gte": 50}, feats(), Decimal(50), RoutingHints()),
        ({"input_tokens_gte": 1000}, feats(1000), None, RoutingHints()),
        ({"input_tokens_lte": 50}, feats(50), None, RoutingHints()),
        ({"has_tools": True}, feats(tools=True), None, RoutingHints()),
        ({"has_images": True}, feats(images=True), None, RoutingHints()),
        ({"json_mode": True}, feats(json_mode=True), None, RoutingHints()),
        ({"complexity": ["medium", "high"]}, feats(complexity="high"), None, RoutingHints()),
    ],
)
def test_every_condition_kind_routes(when, features, budget, hints):
    config = cfg(primary="gpt-4o-mini", rules=[{"when": when, "route": {"model": "gpt-4.1"}}])
    decision = route("auto", [config], hints=hints, features=features, budget=budget)
    assert decision.rule_index == 0
    assert ids(decision)[0] == "openai/gpt-4.1"
    # and the same rule does not fire on a plain request
    assert route("auto", [config]).rule_index is None


def test_rule_fallbacks_come_before_the_config_chain():
    config = cfg(
        primary="openai/gpt-4o-mini",
        fallbacks=["google/gemini-2.5-flash", "openai/gpt-4.1"],
        rules=[
            {
                "when": {},
                "route": {
                    "model": "openai/gpt-4.1",
                    "fallback_models": ["anthropic/claude-sonnet-4-5", "gpt-4o-mini"],
                },
            }
        ],
    )
    assert ids(route("auto", [config])) == [
        "openai/gpt-4.1",
        "anthropic/claude-sonnet-4-5",
        "openai/gpt-4o-mini",
        "google/gemini-2.5-flash",
    ]


def test_named_rule_in_reason():
    config = cfg(
        rules=[
            {"name": "big docs", "when": {"input_tokens_gte": 10}, "route": {"model": "gpt-4.1"}}
        ]
    )
    assert route("auto", [config]).reason == (
        "rule 0 'big docs' (input_tokens>=10) -> openai/gpt-4.1"
    )


def test_models_gone_from_the_catalog_are_skipped_with_a_note():
    # a config saved while these models were active; the catalog changed since
    config = cfg(primary="openai/gpt-3.5-turbo", fallbacks=["openai/mystery", "gpt-4o-mini"])
    decision = route("auto", [config])
    assert ids(decision) == ["openai/gpt-4o-mini"]
    assert "skipped openai/gpt-3.5-turbo (unknown or inactive)" in decision.reason
    assert "skipped openai/mystery (no price)" in decision.reason
    assert "serving openai/gpt-4o-mini" in decision.reason


def test_a_config_with_no_usable_model_is_refused():
    config = cfg(primary="openai/gpt-3.5-turbo")
    with pytest.raises(ModelNotAllowed, match="config 'default'"):
        route("auto", [config])


# --- splits ------------------------------------------------------------------------------------


def test_split_honours_weights_over_seeded_draws():
    rng = random.Random(1234)
    counts = Counter(
        ids(route("auto", [DEFAULT], hints=RoutingHints(tags=("experiment",)), rng=rng))[0]
        for _ in range(5000)
    )
    share = counts["openai/gpt-4.1"] / 5000
    assert 0.88 <= share <= 0.92
    assert counts["anthropic/claude-sonnet-4-5"] == 5000 - counts["openai/gpt-4.1"]


def test_split_is_exact_for_a_seed():
    first = [
        ids(
            route("auto", [DEFAULT], hints=RoutingHints(tags=("experiment",)), rng=random.Random(7))
        )[0]
        for _ in range(3)
    ]
    assert len(set(first)) == 1  # same seed, same arm


def test_split_reason_and_chain():
    decision = route(
        "auto", [DEFAULT], hints=RoutingHints(tags=("experiment",)), rng=random.Random(0)
    )
    assert decision.rule_index == 2
    assert decision.reason.startswith("rule 2 (tags_any=[experiment]) split 90/10 arm ")
    assert "(random)" in decision.reason
    # the config chain follows the arm
    assert ids(decision)[1:] == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "google/gemini-2.5-flash",
    ]


def sticky_config(sticky_by):
    return cfg(
        rules=[
            {
                "when": {},
                "route": {
                    "split": [
                        {"model": "gpt-4.1", "weight": 1},
                        {"model": "claude-sonnet-4-5", "weight": 1},
                    ],
                    "sticky_by": sticky_by,
                },
            }
        ]
    )


def test_split_sticky_by_user():
    config = sticky_config("user")
    for user in ("u1", "u2", "u3", "someone@example.com"):
        arms = {
            ids(route("auto", [config], hints=RoutingHints(user=user), rng=random.Random(seed)))[0]
            for seed in range(20)
        }
        assert len(arms) == 1, user
    spread = Counter(
        ids(route("auto", [config], hints=RoutingHints(user=f"user-{i}")))[0] for i in range(400)
    )
    assert 150 <= spread["openai/gpt-4.1"] <= 250
    decision = route("auto", [config], hints=RoutingHints(user="u1"))
    assert "(sticky by user)" in decision.reason


def test_split_sticky_by_tag():
    config = sticky_config("tag")
    for tags in (("cohort-a",), ("cohort-b", "x")):
        arms = {
            ids(route("auto", [config], hints=RoutingHints(tags=tags), rng=random.Random(seed)))[0]
            for seed in range(20)
        }
        assert len(arms) == 1
    # tag order and case do not move a request to another arm
    a = ids(route("auto", [config], hints=RoutingHints(tags=("X", "cohort-b"))))[0]
    b = ids(route("auto", [config], hints=RoutingHints(tags=("cohort-b", "x"))))[0]
    assert a == b


def test_sticky_split_without_a_key_is_random():
    config = sticky_config("user")
    arms = {ids(route("auto", [config], rng=random.Random(seed)))[0] for seed in range(40)}
    assert arms == {"openai/gpt-4.1", "anthropic/claude-sonnet-4-5"}


# --- priority and tiers --------------------------------------------------------------------

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


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        ("cost", "openai/gpt-4.1-nano"),  # cheapest blended price
        ("speed", "openai/gpt-4o-mini"),  # fast tier, then cheapest (nano is medium here)
        ("quality", "openai/gpt-4.1"),  # best tier, then cheapest (sonnet costs more)
        ("balanced", "openai/gpt-4o-mini"),
    ],
)
def test_priority_hint_with_auto(priority, expected):
    decision = route("auto", [TEAM], hints=RoutingHints(priority=priority))
    assert ids(decision)[0] == expected
    assert decision.reason == (
        f"config default: no rule matched; priority {priority} among 6 models -> {expected}"
    )
    # the config chain follows, without the pick twice
    assert len(ids(decision)) == 6


def test_rankings():
    pool = [MINI, GPT41, NANO, HAIKU, SONNET, FLASH]
    qids = lambda models: [m.qualified_id.split("/")[1] for m in models]  # noqa: E731
    assert qids(rank_models(pool, "cost")) == [
        "gpt-4.1-nano",
        "gpt-4o-mini",
        "gemini-2.5-flash",
        "claude-haiku-4-5",
        "gpt-4.1",
        "claude-sonnet-4-5",
    ]
    assert qids(rank_models(pool, "speed")) == [
        "gpt-4o-mini",
        "gemini-2.5-flash",
        "claude-haiku-4-5",
        "gpt-4.1-nano",
        "gpt-4.1",
        "claude-sonnet-4-5",
    ]
    assert qids(rank_models(pool, "quality")) == [
        "gpt-4.1",
        "claude-sonnet-4-5",
        "gpt-4o-mini",
        "gemini-2.5-flash",
        "claude-haiku-4-5",
        "gpt-4.1-nano",
    ]
    # 2*quality + speed - log2(1 + blended price)
    assert qids(rank_models(pool, "balanced")) == [
        "gpt-4o-mini",
        "gemini-2.5-flash",
        "gpt-4.1",
        "claude-haiku-4-5",
        "claude-sonnet-4-5",
        "gpt-4.1-nano",
    ]


def test_priority_hint_only_for_auto():
    assert ids(route("default", [TEAM], hints=RoutingHints(priority="cost")))[0] == (
        "openai/gpt-4o-mini"
    )


def test_priority_hint_does_not_override_a_matching_rule():
    decision = route("auto", [DEFAULT], hints=RoutingHints(task="code", priority="cost"))
    assert decision.rule_index == 0
    assert ids(decision)[0] == "openai/gpt-4.1"


def test_priority_with_a_single_model_config_uses_its_providers_catalog():
    lonely = cfg(primary="openai/gpt-4.1")
    decision = route("auto", [lonely], hints=RoutingHints(priority="cost"))
    # the cheapest openai model, not groq's cheaper llama (another provider)
    assert ids(decision) == ["openai/gpt-4.1-nano", "openai/gpt-4.1"]


def test_priority_action_in_a_rule_respects_capabilities():
    config = cfg(
        primary="openai/gpt-4.1",
        fallbacks=["groq/llama-small", "openai/gpt-4o-mini"],
        rules=[{"when": {"task": "bulk"}, "route": {"priority": "cost"}}],
    )
    plain = route("auto", [config], hints=RoutingHints(task="bulk"))
    assert ids(plain)[0] == "groq/llama-small"
    assert plain.reason.startswith("rule 0 (task=bulk) priority cost among 3 models")
    # llama has no tools: the cheapest model with tools is picked instead
    tools = route("auto", [config], hints=RoutingHints(task="bulk"), features=feats(tools=True))
    assert ids(tools)[0] == "openai/gpt-4o-mini"
    assert "groq/llama-small" not in ids(tools)


def test_quality_tier_action_and_complexity():
    config = cfg(
        primary="openai/gpt-4o-mini",
        fallbacks=["anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "openai/gpt-4.1-nano"],
        rules=[
            {"when": {"complexity": "high"}, "route": {"quality_tier": "best"}},
            {"when": {"complexity": "low"}, "route": {"quality_tier": "basic"}},
        ],
    )
    high = route("auto", [config], features=feats(complexity="high"))
    assert ids(high)[0] == "openai/gpt-4.1"  # the cheaper of the two "best" models
    assert high.reason == "rule 0 (complexity=high) quality_tier best -> openai/gpt-4.1"
    low = route("auto", [config], features=feats(complexity="low"))
    assert ids(low)[0] == "openai/gpt-4.1-nano"
    assert route("auto", [config], features=feats(complexity="medium")).rule_index is None


def test_quality_tier_outside_the_named_models_looks_at_their_providers():
    config = cfg(
        primary="anthropic/claude-haiku-4-5",
        fallbacks=["gpt-4o-mini"],
        rules=[{"when": {}, "route": {"quality_tier": "best"}}],
    )
    assert ids(route("auto", [config]))[0] == "openai/gpt-4.1"


# --- context window and capabilities --------------------------------------------------------


def test_too_small_context_is_skipped():
    config = cfg(primary="groq/llama-small", fallbacks=["openai/gpt-4o-mini"])
    decision = route("auto", [config], features=feats(7000, max_tokens=2000))
    assert ids(decision) == ["openai/gpt-4o-mini"]
    assert "skipped groq/llama-small (context 8192 < ~9000 tokens)" in decision.reason
    # fits without the big output request
    assert ids(route("auto", [config], features=feats(7000)))[0] == "groq/llama-small"


def test_config_max_tokens_counts_when_the_body_sets_none():
    config = cfg(primary="groq/llama-small", fallbacks=["gpt-4o-mini"], params={"max_tokens": 4000})
    assert ids(route("auto", [config], features=feats(7000)))[0] == "openai/gpt-4o-mini"
    # the body's own max_tokens wins over the config's
    assert ids(route("auto", [config], features=feats(7000, max_tokens=100)))[0] == (
        "groq/llama-small"
    )


def test_nothing_fits_uses_a_larger_model_the_config_names():
    config = cfg(
        primary="openai/gpt-4o-mini",
        fallbacks=["anthropic/claude-haiku-4-5"],
        rules=[
            {"when": {"task": "never"}, "route": {"model": "google/gemini-2.5-flash"}},
            {"when": {"task": "never"}, "route": {"model": "openai/gpt-4.1"}},
        ],
    )
    decision = route("auto", [config], features=feats(500_000))
    # both 1M-context models the config names, cheapest first
    assert ids(decision) == ["google/gemini-2.5-flash", "openai/gpt-4.1"]
    assert "larger-context google/gemini-2.5-flash" in decision.reason


def test_nothing_fits_anywhere_keeps_the_largest_context():
    config = cfg(
        primary="openai/gpt-4o-mini",
        fallbacks=["anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5"],
    )
    decision = route("auto", [config], features=feats(5_000_000))
    assert ids(decision) == ["anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5"]
    assert "kept the largest context" in decision.reason


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        (feats(tools=True), ["openai/gpt-4.1-nano", "openai/gpt-4o-mini"]),
        (feats(images=True), ["openai/gpt-4o-mini"]),
        (feats(json_mode=True), ["openai/gpt-4.1-nano", "openai/gpt-4o-mini"]),
        (feats(images=True, json_mode=True), ["openai/gpt-4o-mini"]),
        (feats(), ["groq/llama-small", "openai/gpt-4.1-nano", "openai/gpt-4o-mini"]),
    ],
)
def test_capability_skipping(features, expected):
    config = cfg(primary="groq/llama-small", fallbacks=["gpt-4.1-nano", "gpt-4o-mini"])
    assert ids(route("auto", [config], features=features)) == expected


def test_capability_nobody_has_keeps_the_chain():
    config = cfg(primary="groq/llama-small", fallbacks=["gpt-4.1-nano"])
    assert ids(route("auto", [config], features=feats(images=True))) == [
        "groq/llama-small",
        "openai/gpt-4.1-nano",
    ]


def test_capability_skip_is_explained():
    config = cfg(primary="groq/llama-small", fallbacks=["gpt-4o-mini"])
    decision = route("auto", [config], features=feats(tools=True, images=True))
    assert "skipped groq/llama-small (no tools,vision)" in decision.reason


def test_reason_is_bounded():
    config = cfg(primary="gpt-4o-mini", fallbacks=[f"gone/model-{i}" for i in range(80)])
    assert len(route("auto", [config]).reason) <= 500


# --- hints and features --------------------------------------------------------------------


def test_hints_from_headers():
    hints = routing_hints_from(
        body={"user": "u-42", "metadata": {"task": "ignored", "tags": ["meta"]}},
        headers={
            "x-tollgate-task": " code ",
            "X-TOLLGATE-PRIORITY": "Speed",
            "X-Tollgate-Tags": "a, b,,A",
        },
    )
    assert hints == RoutingHints(
        task="code", tags=("a", "b", "meta"), priority="speed", user="u-42"
    )


def test_hints_from_metadata():
    hints = routing_hints_from(
        body={"metadata": {"task": "sql", "tags": "x,y", "priority": "cost"}}, headers={}
    )
    assert hints == RoutingHints(task="sql", tags=("x", "y"), priority="cost")
    assert routing_hints_from(body={}, headers={}) == RoutingHints()


@pytest.mark.parametrize(
    ("body", "headers", "match"),
    [
        ({}, {"X-Tollgate-Priority": "fastest"}, "cost, speed, quality, balanced"),
        ({"metadata": "code"}, {}, "'metadata' must be an object"),
        ({"metadata": {"tags": 5}}, {}, "metadata.tags"),
        ({"metadata": {"task": 5}}, {}, "metadata.task"),
        ({}, {"X-Tollgate-Tags": ",".join(f"t{i}" for i in range(21))}, "At most 20 tags"),
        ({}, {"X-Tollgate-Tags": "x" * 65}, "longer than 64"),
        ({}, {"X-Tollgate-Task": "x" * 65}, "longer than 64"),
    ],
)
def test_bad_hints(body, headers, match):
    with pytest.raises(InvalidRequest, match=match):
        routing_hints_from(body=body, headers=headers)


def test_features_of_a_plain_request():
    body = {
        "model": "auto",
        "messages": [
            {"role": "system", "content": "x" * 40},
            {"role": "user", "content": "y" * 41},
        ],
    }
    features = request_features_from(body=body)
    # ceil(81 / 4) + 2 messages * 4 + 3
    assert features == RequestFeatures(
        estimated_input_tokens=21 + 8 + 3,
        has_tools=False,
        has_images=False,
        json_mode=False,
        complexity="low",
        requested_max_tokens=None,
    )


def test_features_of_a_rich_request():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "abcd" * 10},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    {"type": "image_url", "image_url": {"url": "https://x/z.png", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
        "tools": tools,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s"}},
        "max_tokens": 300,
        "max_completion_tokens": 200,
    }
    features = request_features_from(body=body)
    assert features.has_tools and features.has_images and features.json_mode
    assert features.requested_max_tokens == 200
    import json

    chars = 40 + 3 + 2 + len(json.dumps([tools], separators=(",", ":")))
    assert features.estimated_input_tokens == -(-chars // 4) + 3 * 4 + 3 + 765 + 85


def test_features_tolerate_malformed_bodies():
    features = request_features_from(
        body={"messages": "hi", "tools": [], "response_format": "json", "max_tokens": True}
    )
    assert features.estimated_input_tokens == 3
    assert not features.has_tools and not features.json_mode
    assert features.requested_max_tokens is None


@pytest.mark.parametrize(
    ("text", "tokens", "expected"),
    [
        ("hi", 5, "low"),
        ("What is the capital of France?", 10, "low"),
        ("Explain why the sky is blue", 10, "medium"),
        ("Write a python function that reverses a string", 12, "medium"),
        ("Prove that there are infinitely many primes", 12, "medium"),
        ("Prove step by step that sqrt(2) is irrational", 12, "high"),
        ("```python\ndef f(x):\n    return x\n```\nExplain why this has a bug", 30, "high"),
        ("Summarize this document.", 9000, "medium"),
        ("Summarize this document and compare it with the last one.", 9000, "high"),
    ],
)
def test_complexity(text, tokens, expected):
    assert complexity_estimate(text=text, input_tokens=tokens) == expected


def test_complexity_looks_at_the_last_user_message():
    body = {
        "messages": [
            {"role": "system", "content": "Think step by step and prove every claim rigorously."},
            {"role": "user", "content": "hello"},
        ]
    }
    assert request_features_from(body=body).complexity == "low"


# --- cost ----------------------------------------------------------------------------------


def test_estimate_cost_exact():
    # (800 * 0.15 + 200 * 0.075 + 500 * 0.60) / 1M
    cost = estimate_cost(model=MINI, input_tokens=1000, output_tokens=500, cached_tokens=200)
    assert cost == Decimal("0.000435")
    assert str(cost) == "0.0004350000"
    assert isinstance(cost, Decimal)


def test_estimate_cost_without_a_cached_price_bills_cached_tokens_as_input():
    assert estimate_cost(model=NANO, input_tokens=1000, output_tokens=0, cached_tokens=400) == (
        Decimal("0.0001")
    )
    # big numbers stay exact
    assert estimate_cost(model=SONNET, input_tokens=123_456_789, output_tokens=987_654_321) == (
        Decimal("15185.185182")
    )


def test_estimate_cost_rounds_half_up_to_ten_places():
    tiny = mi("x/tiny", inp="0.000001", outp="0.000001")
    assert estimate_cost(model=tiny, input_tokens=50, output_tokens=0) == Decimal("1E-10")
    assert estimate_cost(model=tiny, input_tokens=49, output_tokens=0) == Decimal(0)


def test_estimate_cost_refuses_nonsense():
    with pytest.raises(ValueError):
        estimate_cost(model=MYSTERY, input_tokens=1, output_tokens=1)
    with pytest.raises(ValueError):
        estimate_cost(model=MINI, input_tokens=-1, output_tokens=1)


# --- loaders and preview (database) -----------------------------------------------------------


@pytest.fixture
def small_catalog(db):
    from llm.models import LLMModel, Provider, WireFormat

    openai = Provider.objects.create(
        slug="openai",
        name="OpenAI",
        wire_format=WireFormat.OPENAI_CHAT,
        base_url="https://api.openai.com/v1",
        api_key_env="OPENAI_API_KEY",
    )
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
    common = {"context_window": 128000, "max_output_tokens": 16384}
    LLMModel.objects.create(
        provider=openai,
        model_id="gpt-4o-mini",
        input_price_per_1m=Decimal("0.15"),
        output_price_per_1m=Decimal("0.60"),
        cached_input_price_per_1m=Decimal("0.075"),
        capabilities=["tools", "vision", "json_mode"],
        speed_tier="fast",
        quality_tier="good",
        **common,
    )
    LLMModel.objects.create(
        provider=openai,
        model_id="gpt-4.1",
        input_price_per_1m=Decimal("2"),
        output_price_per_1m=Decimal("8"),
        quality_tier="best",
        **common,
    )
    LLMModel.objects.create(provider=openai, model_id="mystery", **common)
    LLMModel.objects.create(
        provider=openai,
        model_id="gpt-3.5-turbo",
        input_price_per_1m=Decimal("0.5"),
        output_price_per_1m=Decimal("1.5"),
        is_active=False,
        **common,
    )
    LLMModel.objects.create(
        provider=anthropic,
        model_id="claude-haiku-4-5",
        input_price_per_1m=Decimal("1"),
        output_price_per_1m=Decimal("5"),
        **common,
    )
    LLMModel.objects.create(
        provider=retired,
        model_id="old-model",
        input_price_per_1m=Decimal("1"),
        output_price_per_1m=Decimal("1"),
        **common,
    )


def test_catalog_index_load(small_catalog, django_assert_num_queries):
    with django_assert_num_queries(1):
        index = catalog_index_load()
    mini = index.resolve("gpt-4o-mini")
    assert mini == index.resolve("openai/gpt-4o-mini")
    assert mini.wire_format == "openai_chat"
    assert mini.api_key_env == "OPENAI_API_KEY"
    assert mini.base_url_env == "TOLLGATE_OPENAI_BASE_URL"
    assert mini.cached_input_price_per_1m == Decimal("0.075")
    assert mini.capabilities == ("tools", "vision", "json_mode")
    assert index.resolve("anthropic/claude-haiku-4-5").auth_style == "x_api_key"
    assert index.resolve("openai/mystery") is not None  # exists, but...
    assert sorted(m.qualified_id for m in index.all()) == [
        "anthropic/claude-haiku-4-5",
        "openai/gpt-4.1",
        "openai/gpt-4o-mini",
    ]
    for gone in ("openai/gpt-3.5-turbo", "retired/old-model", "old-model"):
        assert index.resolve(gone) is None
        assert index.is_inactive(gone)
    assert not index.is_inactive("openai/nope")


def make_config(tenant, **fields):
    from llm.models import RoutingConfig

    values = {"tenant": tenant, "name": "default", "primary_model": "openai/gpt-4o-mini"}
    values.update(fields)
    config = RoutingConfig(**values)
    config.full_clean()
    config.save()
    return config


def test_tenant_configs_load_is_scoped(
    small_catalog, tenant, other_tenant, django_assert_num_queries
):
    mine = make_config(
        tenant,
        is_default=True,
        fallback_models=["gpt-4.1"],
        params={"temperature": 0.2},
        cache_ttl_seconds=30,
    )
    make_config(other_tenant, name="secret", primary_model="gpt-4.1")
    with django_assert_num_queries(1):
        configs = tenant_configs_load(tenant_id=tenant.pk)
    assert configs == [
        ConfigInfo(
            pk=mine.pk,
            name="default",
            is_default=True,
            primary_model="openai/gpt-4o-mini",
            fallback_models=("gpt-4.1",),
            use_byok=False,
            params={"temperature": 0.2},
            rules=[],
            cache_ttl_seconds=30,
        )
    ]


def test_route_preview(small_catalog, tenant, other_tenant):
    make_config(
        tenant,
        is_default=True,
        fallback_models=["anthropic/claude-haiku-4-5"],
        params={"temperature": 0.2, "max_tokens": 512},
        rules=[{"when": {"task": "code"}, "route": {"model": "openai/gpt-4.1"}}],
    )
    make_config(other_tenant, name="secret", primary_model="gpt-4.1")
    body = {"model": "auto", "messages": [{"role": "user", "content": "x" * 400}]}
    preview = route_preview(tenant=tenant, body=body, headers={"X-Tollgate-Task": "code"})
    # 100 + 4 + 3 input tokens; output: the config's max_tokens
    expected_cost = (107 * Decimal("2") + 512 * Decimal("8")) / 1_000_000
    assert preview == {
        "model": "openai/gpt-4.1",
        "provider": "openai",
        "candidates": ["openai/gpt-4.1", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"],
        "reason": "rule 0 (task=code) -> openai/gpt-4.1",
        "rule_index": 0,
        "config": "default",
        "estimated_input_tokens": 107,
        "estimated_output_tokens": 512,
        "estimated_cost_usd": f"{expected_cost.quantize(Decimal('1E-10')):f}",
        "params": {"temperature": 0.2, "max_tokens": 512},
        "use_byok": False,
        "cache_ttl_seconds": 0,
        "complexity": "low",
        "budget_used_pct": None,
        "hints": {"task": "code", "tags": [], "priority": None},
    }
    assert preview["estimated_cost_usd"] == "0.0043100000"


def test_route_preview_worst_case_uses_the_model_maximum(small_catalog, tenant):
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 10**9,
    }
    preview = route_preview(tenant=tenant, body=body, headers={})
    assert preview["config"] is None
    assert preview["estimated_output_tokens"] == 16384
    assert Decimal(preview["estimated_cost_usd"]) == estimate_cost(
        model=catalog_index_load().resolve("gpt-4o-mini"),
        input_tokens=preview["estimated_input_tokens"],
        output_tokens=16384,
    )


def test_route_preview_does_not_see_other_tenants_configs(small_catalog, tenant, other_tenant):
    make_config(other_tenant, name="secret", primary_model="gpt-4.1")
    with pytest.raises(InvalidRequest, match="Unknown model 'secret'"):
        route_preview(tenant=tenant, body={"model": "secret", "messages": []}, headers={})
    with pytest.raises(InvalidRequest, match="'model' is required"):
        route_preview(tenant=tenant, body={"messages": []}, headers={})


def test_rule_model_gone_falls_to_the_rest_of_the_chain():
    config = cfg(
        primary="gpt-4o-mini",
        rules=[
            {
                "when": {},
                "route": {"model": "openai/gpt-3.5-turbo", "fallback_models": ["gpt-4.1"]},
            }
        ],
    )
    decision = route("auto", [config])
    assert ids(decision) == ["openai/gpt-4.1", "openai/gpt-4o-mini"]
    assert decision.rule_index == 0
    assert decision.reason.startswith("rule 0 (always) -> no usable model; serving openai/gpt-4.1")


def test_a_config_named_auto_serves_auto_when_there_is_no_default():
    named_auto = cfg("auto", is_default=False, primary="gpt-4.1")
    assert ids(route("auto", [named_auto])) == ["openai/gpt-4.1"]
    # a default config wins
    assert ids(route("auto", [named_auto, DEFAULT]))[0] == "openai/gpt-4o-mini"


def test_decision_params_are_a_copy():
    decision = route("auto", [DEFAULT])
    decision.params["temperature"] = 1.5
    assert DEFAULT.params["temperature"] == 0.2


def test_observed_latency_refines_speed_within_a_tier():
    hints = RoutingHints(priority="speed")
    # without observations: the cheapest fast model
    assert ids(route("auto", [TEAM], hints=hints))[0] == "openai/gpt-4o-mini"
    decision = route_request(
        requested_model="auto",
        configs=[TEAM],
        catalog=CATALOG,
        hints=hints,
        features=feats(),
        budget_used_pct=None,
        latency_ms={
            "openai/gpt-4o-mini": 900.0,
            "anthropic/claude-haiku-4-5": 300.0,
            "openai/gpt-4.1": 50.0,
        },
    )
    # haiku is the quickest observed fast model; gpt-4.1 is quicker but in a slower tier
    assert ids(decision)[0] == "anthropic/claude-haiku-4-5"


def test_invalid_priorities_in_stored_rules_do_not_break_requests():
    config = cfg(primary="gpt-4o-mini", rules=[{"when": {}, "route": {"priority": "fastest"}}])
    decision = route("auto", [config])
    assert decision.rule_index is None
    assert ids(decision) == ["openai/gpt-4o-mini"]
