"""usage/: aggregates by SQL in the tenant's time zone, grouped and filtered, with totals."""

import pytest

from tests.support.api import assert_error

URL = "/api/v1/usage/"
EVENTS = "/api/v1/usage/events/"


NOV = {"start": "2026-11-01", "end": "2026-11-30"}


def _get(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_group_by_day_uses_tenant_time_zone(owner_client, usage):
    body = _get(owner_client, group_by="day", **NOV)
    assert body["results"] == [
        {
            "day": "2026-11-01",
            "requests": 2,
            "input_tokens": 200,
            "output_tokens": 20,
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "cost_usd": "0.0012345678",
        },
        {
            "day": "2026-11-02",
            "requests": 1,
            "input_tokens": 100,
            "output_tokens": 10,
            "cached_tokens": 7,
            "cache_write_tokens": 11,
            "reasoning_tokens": 3,
            "cost_usd": "0.50",
        },
    ]
    assert body["totals"] == {
        "requests": 3,
        "input_tokens": 300,
        "output_tokens": 30,
        "cached_tokens": 7,
        "cache_write_tokens": 11,
        "reasoning_tokens": 3,
        "cost_usd": "0.5012345678",
    }
    assert body["timezone"] == "Europe/Berlin"


def test_group_by_month(owner_client, usage):
    body = _get(owner_client, group_by="month", start="2026-10-01", end="2026-11-30")
    assert [(r["month"], r["requests"]) for r in body["results"]] == [
        ("2026-10", 1),
        ("2026-11", 3),
    ]


def test_group_by_model_provider_config_key_tag(owner_client, usage):
    by_model = _get(owner_client, group_by="model", **NOV)["results"]
    assert [(r["model"], r["requests"], r["cost_usd"]) for r in by_model] == [
        ("anthropic/claude-haiku-4-5", 1, "0.50"),
        ("openai/gpt-4o-mini", 2, "0.0012345678"),
    ]
    by_provider = _get(owner_client, group_by="provider", **NOV)["results"]
    assert [r["provider"] for r in by_provider] == ["anthropic", "openai"]
    by_config = _get(owner_client, group_by="config", **NOV)["results"]
    assert {(r["config"], r["config_name"], r["requests"]) for r in by_config} == {
        (usage["config"].pk, "plan", 1),
        (None, None, 2),
    }
    by_key = _get(owner_client, group_by="key", **NOV)["results"]
    assert {(r["key"], r["requests"]) for r in by_key} == {(usage["key"].pk, 2), (None, 1)}
    by_tag = _get(owner_client, group_by="tag", **NOV)
    assert [(r["tag"], r["requests"], r["cost_usd"]) for r in by_tag["results"]] == [
        ("a", 1, "0.0012345678"),
        ("b", 2, "0.5012345678"),
    ]
    assert by_tag["totals"]["requests"] == 3  # an event with two tags counts once in totals


def test_filters(owner_client, usage):
    assert _get(owner_client, provider="anthropic", **NOV)["totals"]["requests"] == 1
    assert _get(owner_client, model="openai/gpt-4o-mini", **NOV)["totals"]["requests"] == 2
    assert _get(owner_client, status="error", **NOV)["totals"]["requests"] == 1
    assert _get(owner_client, tag="b", **NOV)["totals"]["cost_usd"] == "0.5012345678"
    assert _get(owner_client, tag="zzz", **NOV)["totals"] == {
        "requests": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": "0.00",
    }


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "week"},
        {"start": "2026-11-05", "end": "2026-11-01"},
        {"start": "yesterday"},
        {"start": "0001-01-01"},
        {"start": "2000-01-01", "end": "2026-01-01"},
        {"status": "great"},
    ],
)
def test_bad_queries_are_400(owner_client, usage, params):
    assert_error(owner_client.get(URL, params), 400, "invalid_request")


def test_other_tenant_never_counted(outsider_client, usage):
    body = _get(outsider_client, group_by="model", **NOV)
    assert body["totals"]["cost_usd"] == "99.00"
    assert [r["model"] for r in body["results"]] == ["openai/gpt-4o-mini"]


def test_key_scopes(key_client, usage):
    assert key_client("read").get(URL, NOV).status_code == 200
    assert_error(key_client("inference").get(EVENTS), 403, "permission_denied")


def test_operator_must_name_tenant(operator_client, usage):
    assert_error(operator_client.get(URL, NOV), 400, "invalid_request")
    response = operator_client.get(
        URL, {**NOV, "group_by": "model"}, HTTP_X_TOLLGATE_TENANT="globex"
    )
    assert response.json()["totals"]["cost_usd"] == "99.00"
