"""The model picker's rows and cost tiers."""

from decimal import Decimal

import pytest

from console.selectors.model_picker import cost_tier, picker_models


@pytest.mark.parametrize(
    ("inp", "out", "tier"),
    [("0", "0", "free"), ("0.15", "0.60", "low"), ("1", "5", "medium"), ("3", "15", "high")],
)
def test_cost_tier(inp, out, tier):
    assert cost_tier(input_price=Decimal(inp), output_price=Decimal(out)) == tier


def test_picker_lists_routable_models_with_their_facts(edge_case_catalog):
    rows = {row["id"]: row for row in picker_models()}
    # unpriced, inactive and inactive-provider models cannot be routed to: not offered
    assert set(rows) == {"openai/gpt-4o-mini", "openai/gpt-4.1", "anthropic/claude-haiku-4-5"}
    mini = rows["openai/gpt-4o-mini"]
    assert (mini["input"], mini["output"], mini["cached"]) == ("0.15", "0.60", "0.075")
    assert mini["context_window"] == 128000 and mini["max_output"] == 16384
    assert mini["capabilities"] == ["tools", "vision", "json_mode"]
    assert (mini["speed"], mini["quality"], mini["cost_tier"]) == ("fast", "good", "low")
    assert rows["openai/gpt-4.1"]["cost_tier"] == "medium"  # (3 x 2 + 8) / 4 = 3.5 per 1M


def test_picker_offers_only_what_the_tenant_plan_allows(edge_case_catalog, tenant):
    tenant.allowed_models = ["openai/gpt-4o-mini"]
    tenant.save()
    assert [row["id"] for row in picker_models(tenant=tenant)] == ["openai/gpt-4o-mini"]
