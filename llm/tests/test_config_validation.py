"""RoutingConfig validation on save: errors name the bad field."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from tests.support.catalog import config_build


def errors_of(config) -> dict:
    with pytest.raises(ValidationError) as excinfo:
        config.full_clean()
    return excinfo.value.message_dict


def test_contract_example_is_valid(tenant, edge_case_catalog):
    config = config_build(
        tenant,
        fallback_models=["gpt-4.1"],
        params={"temperature": 0.2, "max_tokens": 512},
        rules=[
            {"when": {"task": "code"}, "route": {"model": "openai/gpt-4.1"}},
            {"when": {"budget_used_pct_gte": 80}, "route": {"model": "openai/gpt-4o-mini"}},
            {
                "when": {"tags_any": ["experiment"]},
                "route": {
                    "split": [
                        {"model": "openai/gpt-4.1", "weight": 90},
                        {"model": "openai/gpt-4o-mini", "weight": 10},
                    ]
                },
            },
        ],
    )
    config.full_clean()


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"primary_model": "openai/nope"}, "primary_model"),
        ({"primary_model": "openai/mystery"}, "primary_model"),
        ({"fallback_models": ["gpt-4.1", "ghost"]}, "fallback_models[1]"),
        ({"params": {"temperature": "hot"}}, "params.temperature"),
        ({"params": {"base_url": "http://evil"}}, "params.base_url"),
        ({"rules": [{"when": {"task": "code"}}]}, "rules[0].route"),
        (
            {"rules": [{"when": {"colour": "red"}, "route": {"model": "gpt-4.1"}}]},
            "rules[0].when.colour",
        ),
        (
            {"rules": [{"when": {"priority": "fastest"}, "route": {"model": "gpt-4.1"}}]},
            "rules[0].when.priority",
        ),
        (
            {"rules": [{"when": {}, "route": {"split": [{"model": "gpt-4.1", "weight": 0}]}}]},
            "rules[0].route.split[0].weight",
        ),
        (
            {
                "rules": [
                    {"when": {}, "route": {"model": "gpt-4.1"}},
                    {"when": {}, "route": {"split": [{"model": "x/y", "weight": 1}]}},
                ]
            },
            "rules[1].route.split[0].model",
        ),
        (
            {"rules": [{"when": {}, "route": {"model": "gpt-4.1", "priority": "cost"}}]},
            "rules[0].route",
        ),
        ({"rules": "not a list"}, "rules"),
    ],
)
def test_errors_name_the_bad_field(tenant, edge_case_catalog, fields, bad_field):
    assert bad_field in errors_of(config_build(tenant, **fields))


def test_one_default_per_tenant(tenant, other_tenant, edge_case_catalog):
    config_build(tenant, is_default=True).save()
    config_build(other_tenant, is_default=True).save()
    with pytest.raises(IntegrityError):
        config_build(tenant, name="second", is_default=True).save()


def test_auto_is_a_reserved_config_name(tenant, edge_case_catalog):
    assert "name" in errors_of(config_build(tenant, name="auto"))
