"""Model ranking and fit: priority orders, observed latency, context windows, capabilities."""

import pytest

from llm.services.model_ranking import rank_models
from llm.services.router import route_request
from llm.services.routing_hints import RoutingHints
from llm.tests.routing_support import (
    CATALOG,
    FLASH,
    GPT41,
    HAIKU,
    MINI,
    NANO,
    SONNET,
    TEAM,
    cfg,
    feats,
    ids,
    route,
)


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
