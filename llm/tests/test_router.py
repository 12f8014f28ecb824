"""The decision: model names, configs and rules, actions, priorities and tiers, the reason.

Pure: a hand-built CatalogIndex (llm/tests/routing_support.py), no database.
"""

from decimal import Decimal

import pytest

from core.errors import InvalidRequest, ModelNotAllowed
from llm.services.router import config_for_model
from llm.services.routing_hints import RoutingHints
from llm.tests.routing_support import CODE, DEFAULT, TEAM, cfg, feats, ids, route


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


def test_a_config_named_auto_serves_auto_when_there_is_no_default():
    named_auto = cfg("auto", is_default=False, primary="gpt-4.1")
    assert ids(route("auto", [named_auto])) == ["openai/gpt-4.1"]
    # a default config wins
    assert ids(route("auto", [named_auto, DEFAULT]))[0] == "openai/gpt-4o-mini"


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


def test_named_rule_in_reason():
    config = cfg(
        rules=[
            {"name": "big docs", "when": {"input_tokens_gte": 10}, "route": {"model": "gpt-4.1"}}
        ]
    )
    assert route("auto", [config]).reason == (
        "rule 0 'big docs' (input_tokens>=10) -> openai/gpt-4.1"
    )


def test_a_config_with_no_usable_model_is_refused():
    config = cfg(primary="openai/gpt-3.5-turbo")
    with pytest.raises(ModelNotAllowed, match="config 'default'"):
        route("auto", [config])


def test_invalid_priorities_in_stored_rules_do_not_break_requests():
    config = cfg(primary="gpt-4o-mini", rules=[{"when": {}, "route": {"priority": "fastest"}}])
    decision = route("auto", [config])
    assert decision.rule_index is None
    assert ids(decision) == ["openai/gpt-4o-mini"]


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


def test_priority_hint_only_for_auto():
    assert ids(route("default", [TEAM], hints=RoutingHints(priority="cost")))[0] == (
        "openai/gpt-4o-mini"
    )


def test_priority_hint_does_not_override_a_matching_rule():
    decision = route("auto", [DEFAULT], hints=RoutingHints(task="code", priority="cost"))
    assert decision.rule_index == 0
    assert ids(decision)[0] == "openai/gpt-4.1"


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


def test_reason_is_bounded():
    config = cfg(primary="gpt-4o-mini", fallbacks=[f"gone/model-{i}" for i in range(80)])
    assert len(route("auto", [config]).reason) <= 500


def test_decision_params_are_a_copy():
    decision = route("auto", [DEFAULT])
    decision.params["temperature"] = 1.5
    assert DEFAULT.params["temperature"] == 0.2
