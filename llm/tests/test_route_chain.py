"""The candidate chain: order, deduplication, skipped models, the models a priority may pick."""

from llm.services.routing_hints import RoutingHints
from llm.tests.routing_support import DEFAULT, cfg, ids, route


def test_catalog_model_directly_dedupes_against_default_fallbacks():
    decision = route("anthropic/claude-haiku-4-5", [DEFAULT])
    assert ids(decision) == ["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"]


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


def test_models_gone_from_the_catalog_are_skipped_with_a_note():
    # a config saved while these models were active; the catalog changed since
    config = cfg(primary="openai/gpt-3.5-turbo", fallbacks=["openai/mystery", "gpt-4o-mini"])
    decision = route("auto", [config])
    assert ids(decision) == ["openai/gpt-4o-mini"]
    assert "skipped openai/gpt-3.5-turbo (unknown or inactive)" in decision.reason
    assert "skipped openai/mystery (no price)" in decision.reason
    assert "serving openai/gpt-4o-mini" in decision.reason


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


def test_priority_with_a_single_model_config_uses_its_providers_catalog():
    lonely = cfg(primary="openai/gpt-4.1")
    decision = route("auto", [lonely], hints=RoutingHints(priority="cost"))
    # the cheapest openai model, not groq's cheaper llama (another provider)
    assert ids(decision) == ["openai/gpt-4.1-nano", "openai/gpt-4.1"]
