"""The rule language: matching of every condition kind, descriptions, and validation."""

from decimal import Decimal

import pytest

from llm.models import LLMModel, Provider, WireFormat
from llm.rules import RuleContext, describe_when, split_weight_ok, validate_rules, when_matches
from llm.selectors import model_resolve

BASE = RuleContext(
    task="code",
    tags=("Experiment", "beta"),
    priority="cost",
    budget_used_pct=Decimal("85.5"),
    input_tokens=2000,
    has_tools=True,
    has_images=False,
    json_mode=False,
    complexity="medium",
)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({}, True),
        ({"task": "code"}, True),
        ({"task": "CODE"}, True),
        ({"task": ["sql", "code"]}, True),
        ({"task": "plan"}, False),
        ({"tags_any": ["experiment"]}, True),
        ({"tags_any": ["gamma", "beta"]}, True),
        ({"tags_any": ["gamma"]}, False),
        ({"tags_all": ["experiment", "beta"]}, True),
        ({"tags_all": ["experiment", "gamma"]}, False),
        ({"priority": "cost"}, True),
        ({"priority": ["speed", "quality"]}, False),
        ({"budget_used_pct_gte": 80}, True),
        ({"budget_used_pct_gte": 85.5}, True),
        ({"budget_used_pct_gte": 90}, False),
        ({"input_tokens_gte": 2000}, True),
        ({"input_tokens_gte": 2001}, False),
        ({"input_tokens_lte": 2000}, True),
        ({"input_tokens_lte": 1999}, False),
        ({"has_tools": True}, True),
        ({"has_tools": False}, False),
        ({"has_images": False}, True),
        ({"has_images": True}, False),
        ({"json_mode": True}, False),
        ({"complexity": "medium"}, True),
        ({"complexity": ["low", "high"]}, False),
        ({"task": "code", "has_tools": True, "budget_used_pct_gte": 50}, True),
        ({"task": "code", "has_tools": False}, False),
        ({"colour": "red"}, False),
    ],
)
def test_each_condition(when, expected):
    assert when_matches(when, BASE) is expected


def test_missing_hints_never_match_their_conditions():
    empty = RuleContext()
    assert not when_matches({"task": "code"}, empty)
    assert not when_matches({"priority": "cost"}, empty)
    assert not when_matches({"tags_any": ["x"]}, empty)
    # no budget configured: a budget rule must not fire
    assert not when_matches({"budget_used_pct_gte": 0}, empty)
    assert when_matches({"budget_used_pct_gte": 0}, RuleContext(budget_used_pct=Decimal(0)))


def test_malformed_when_never_matches():
    assert not when_matches(["task"], BASE)
    assert not when_matches({"input_tokens_gte": "10"}, BASE)


def test_describe_when():
    assert describe_when({}) == "always"
    assert (
        describe_when(
            {"task": "code", "tags_any": ["a", "b"], "budget_used_pct_gte": 80, "has_tools": False}
        )
        == "task=code, tags_any=[a,b], budget_used_pct>=80, not has_tools"
    )
    assert describe_when({"input_tokens_lte": 10, "json_mode": True}) == (
        "input_tokens<=10, json_mode"
    )


@pytest.fixture
def one_model(db):
    provider = Provider.objects.create(
        slug="openai", name="OpenAI", wire_format=WireFormat.OPENAI_CHAT, base_url="https://x/v1"
    )
    LLMModel.objects.create(
        provider=provider,
        model_id="gpt-4o-mini",
        context_window=128000,
        max_output_tokens=16384,
        input_price_per_1m=Decimal("0.15"),
        output_price_per_1m=Decimal("0.60"),
    )


def _resolve(ref: str):
    return model_resolve(ref=ref)


def test_sticky_by_only_on_splits(one_model):
    errors = validate_rules(
        [{"when": {}, "route": {"model": "gpt-4o-mini", "sticky_by": "user"}}], resolve=_resolve
    )
    assert "rules[0].route.sticky_by" in errors
    ok = validate_rules(
        [
            {
                "when": {},
                "route": {"split": [{"model": "gpt-4o-mini", "weight": 1}], "sticky_by": "tag"},
            }
        ],
        resolve=_resolve,
    )
    assert ok == {}


def test_rule_name_must_be_a_string(one_model):
    errors = validate_rules(
        [{"name": 7, "when": {}, "route": {"model": "gpt-4o-mini"}}], resolve=_resolve
    )
    assert errors == {"rules[0].name": "Must be a string."}


@pytest.mark.parametrize(
    ("weight", "ok"),
    [(1, True), (0.5, True), (90, True), (0, False), (-1, False), (True, False), ("1", False)],
)
def test_split_weight_is_a_positive_number(weight, ok):
    # the one rule for validation (rules[i].route.split[j].weight) and for routing (route_splits)
    assert split_weight_ok(weight) is ok
