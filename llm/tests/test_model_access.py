"""The router under a key's and a tenant plan's allowed sets (llm/services/model_access.py).

Pure: the hand-built catalog of routing_support, no database."""

from dataclasses import replace

import pytest

from core.errors import ModelNotAllowed
from llm.services.model_access import ModelAccess
from llm.services.router import route_request
from llm.services.routing_hints import RoutingHints
from llm.tests.routing_support import CATALOG, MINI, cfg, feats, ids


def _route(model, configs, access, *, hints=None):
    return route_request(
        requested_model=model,
        configs=configs,
        catalog=CATALOG,
        hints=hints or RoutingHints(),
        features=feats(),
        budget_used_pct=None,
        access=access,
    )


CONFIG = cfg(
    primary="openai/gpt-4o-mini",
    fallbacks=["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"],
    rules=[
        {
            "when": {"task": "code"},
            "route": {
                "model": "openai/gpt-4.1",
                "fallback_models": ["anthropic/claude-sonnet-4-5"],
            },
        }
    ],
)


def test_disallowed_primary_and_fallbacks_are_skipped_with_a_note():
    access = ModelAccess.build(key_models=["google/gemini-2.5-flash", "gpt-4.1"])
    decision = _route("auto", [CONFIG], access)
    assert ids(decision) == ["google/gemini-2.5-flash"]
    assert "skipped openai/gpt-4o-mini (not allowed)" in decision.reason
    coded = _route("auto", [CONFIG], access, hints=RoutingHints(task="code"))
    assert ids(coded) == ["openai/gpt-4.1", "google/gemini-2.5-flash"]


def test_explicit_disallowed_model_or_config_is_model_not_allowed():
    access = ModelAccess.build(key_models=["gpt-4o-mini"], key_configs=["default"])
    with pytest.raises(ModelNotAllowed, match="not allowed for this API key"):
        _route("anthropic/claude-haiku-4-5", [CONFIG], access)
    with pytest.raises(ModelNotAllowed, match="'other' is not allowed"):
        _route("other", [CONFIG, cfg("other", is_default=False, pk=2)], access)
    assert ids(_route("gpt-4o-mini", [CONFIG], access)) == ["openai/gpt-4o-mini"]


def test_priority_and_tier_picks_only_among_allowed_models():
    access = ModelAccess.build(tenant_providers=["anthropic", "google"])
    cheap = _route("auto", [CONFIG], access, hints=RoutingHints(priority="cost"))
    assert all(not m.startswith("openai/") for m in ids(cheap))
    tiered = cfg(
        primary="anthropic/claude-haiku-4-5",
        fallbacks=["openai/gpt-4.1"],
        rules=[{"when": {}, "route": {"quality_tier": "best"}}],
        pk=3,
    )
    decision = _route("auto", [tiered], access)
    assert ids(decision)[0] == "anthropic/claude-sonnet-4-5"  # gpt-4.1 is best too, not allowed


def test_keyless_local_models_need_the_operator():
    local = replace(MINI, auth_style="none", api_key_env="", provider_slug="ollama")
    assert not ModelAccess().allows(local)
    assert ModelAccess.build(local_providers=["ollama"]).allows(local)
    assert not ModelAccess.build(local_providers=["vllm"]).allows(local)
    assert ModelAccess().allows(MINI)
    assert not ModelAccess.build(tenant_models=["gpt-4.1"]).allows(MINI)


def test_all_candidates_disallowed_is_model_not_allowed():
    with pytest.raises(ModelNotAllowed, match="not allowed"):
        _route("auto", [CONFIG], ModelAccess.build(key_models=["openai/gpt-4.1-nano"]))
