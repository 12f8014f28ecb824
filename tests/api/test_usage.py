"""usage/ aggregates (SQL, tenant's time zone) and usage/events/ (paginated raw events)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import UsageEvent
from llm.models import RoutingConfig
from tenants.services import api_key_create
from tests.api.helpers import assert_error

URL = "/api/v1/usage/"
EVENTS = "/api/v1/usage/events/"


def _event(tenant, request_id, at, **fields):
    values = {
        "tenant": tenant,
        "request_id": request_id,
        "created_at": at,
        "model": "openai/gpt-4o-mini",
        "requested_model": "auto",
        "provider": "openai",
        "status": "success",
        "input_tokens": 100,
        "output_tokens": 10,
        "cost_usd": Decimal("0.0012345678"),
    }
    values.update(fields)
    return UsageEvent.objects.create(**values)


@pytest.fixture
def usage(tenant, other_tenant, small_catalog):
    """Acme is in Europe/Berlin (UTC+1 in November)."""
    config = RoutingConfig.objects.create(tenant=tenant, name="plan", primary_model="gpt-4.1")
    key, _ = api_key_create(tenant=tenant, scopes=["inference"], name="app")
    _event(tenant, "r1", datetime(2026, 11, 1, 22, 30, tzinfo=UTC), tags=["a", "b"], config=config, api_key=key)
    _event(
        tenant,
        "r2",
        datetime(2026, 11, 1, 23, 30, tzinfo=UTC),  # local: 2 Nov, 00:30
        tags=["b"],
        model="anthropic/claude-haiku-4-5",
        provider="anthropic",
        cost_usd=Decimal("0.5"),
        cached_tokens=7,
        api_key=key,
    )
    _event(
        tenant,
        "r3",
        datetime(2026, 10, 31, 23, 30, tzinfo=UTC),  # local: 1 Nov, 00:30
        status="error",
        cost_usd=Decimal("0"),
    )
    _event(tenant, "r-old", datetime(2026, 10, 31, 22, 30, tzinfo=UTC))  # local: 31 Oct
    _event(other_tenant, "theirs", datetime(2026, 11, 1, 12, 0, tzinfo=UTC), cost_usd=Decimal("99"))
    return {"config": config, "key": key}


NOV = {"start": "2026-11-01", "end": "2026-11-30"}


def _get(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_group_by_day_uses_tenant_time_zone(owner_client, usage):
    body = _get(owner_client, group_by="day", **NOV)
    assert body["results"] == [
        {"day": "2026-11-01", "requests": 2, "input_tokens": 200, "output_tokens": 20, "cached_tokens": 0, "cost_usd": "0.0012345678"},
        {"day": "2026-11-02", "requests": 1, "input_tokens": 100, "output_tokens": 10, "cached_tokens": 7, "cost_usd": "0.5"},
    ]
    assert body["totals"] == {
        "requests": 3, "input_tokens": 300, "output_tokens": 30, "cached_tokens": 7, "cost_usd": "0.5012345678"
    }
    assert body["timezone"] == "Europe/Berlin"


def test_group_by_month(owner_client, usage):
    body = _get(owner_client, group_by="month", start="2026-10-01", end="2026-11-30")
    assert [(r["month"], r["requests"]) for r in body["results"]] == [("2026-10", 1), ("2026-11", 3)]


def test_group_by_model_provider_config_key_tag(owner_client, usage):
    by_model = _get(owner_client, group_by="model", **NOV)["results"]
    assert [(r["model"], r["requests"], r["cost_usd"]) for r in by_model] == [
        ("anthropic/claude-haiku-4-5", 1, "0.5"),
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
        "requests": 0, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "cost_usd": "0"
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
    assert body["totals"]["cost_usd"] == "99"
    assert [r["model"] for r in body["results"]] == ["openai/gpt-4o-mini"]


def test_events_shape_order_and_pagination(member_client, usage):
    response = member_client.get(EVENTS, {"page_size": 2})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 4 and body["next"]
    assert [e["request_id"] for e in body["results"]] == ["r2", "r1"]
    event = body["results"][0]
    for field in (
        "request_id", "created_at", "api_key", "config", "requested_model", "model", "provider",
        "key_source", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "latency_ms",
        "status", "fallback", "attempts", "route_reason", "tags",
    ):
        assert field in event, field
    assert event["cost_usd"] == "0.5" and event["api_key"] == usage["key"].pk
    page2 = member_client.get(EVENTS, {"page_size": 2, "page": 2}).json()
    assert [e["request_id"] for e in page2["results"]] == ["r3", "r-old"]
    assert "theirs" not in str(body) + str(page2)


def test_events_filters(owner_client, usage):
    ids = lambda **p: [e["request_id"] for e in owner_client.get(EVENTS, p).json()["results"]]  # noqa: E731
    assert ids(start="2026-11-02", end="2026-11-02") == ["r2"]
    assert ids(tag="a") == ["r1"]
    assert ids(status="error") == ["r3"]
    assert ids(key=usage["key"].pk) == ["r2", "r1"]


def test_key_scopes(key_client, usage):
    assert key_client("read").get(URL, NOV).status_code == 200
    assert_error(key_client("inference").get(EVENTS), 403, "permission_denied")


def test_operator_must_name_tenant(operator_client, usage):
    assert_error(operator_client.get(URL, NOV), 400, "invalid_request")
    response = operator_client.get(URL, {**NOV, "group_by": "model"}, HTTP_X_TOLLGATE_TENANT="globex")
    assert response.json()["totals"]["cost_usd"] == "99"
