"""The route preview service: the decision for a request and its worst-case cost, per tenant."""

from decimal import Decimal

import pytest

from core.errors import InvalidRequest
from gateway.services.route_preview import route_preview
from llm.services.routing_snapshots import catalog_index_load
from llm.services.token_cost import estimate_cost
from tests.support.catalog import config_create


def test_route_preview(edge_case_catalog, tenant, other_tenant):
    config_create(
        tenant,
        is_default=True,
        fallback_models=["anthropic/claude-haiku-4-5"],
        params={"temperature": 0.2, "max_tokens": 512},
        rules=[{"when": {"task": "code"}, "route": {"model": "openai/gpt-4.1"}}],
    )
    config_create(other_tenant, name="secret", primary_model="gpt-4.1")
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


def test_route_preview_worst_case_uses_the_model_maximum(edge_case_catalog, tenant):
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


def test_route_preview_does_not_see_other_tenants_configs(edge_case_catalog, tenant, other_tenant):
    config_create(other_tenant, name="secret", primary_model="gpt-4.1")
    with pytest.raises(InvalidRequest, match="Unknown model 'secret'"):
        route_preview(tenant=tenant, body={"model": "secret", "messages": []}, headers={})
    with pytest.raises(InvalidRequest, match="'model' is required"):
        route_preview(tenant=tenant, body={"messages": []}, headers={})
