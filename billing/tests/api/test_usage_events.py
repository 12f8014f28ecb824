"""usage/events/: the tenant's raw events, newest first, paginated, filterable."""

from tests.support.api import assert_error

EVENTS = "/api/v1/usage/events/"


def test_events_shape_order_and_pagination(member_client, usage):
    response = member_client.get(EVENTS, {"page_size": 2})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 4 and body["next"]
    assert [e["request_id"] for e in body["results"]] == ["r2", "r1"]
    event = body["results"][0]
    for field in (
        "request_id",
        "created_at",
        "api_key",
        "config",
        "requested_model",
        "model",
        "provider",
        "key_source",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost_usd",
        "latency_ms",
        "status",
        "fallback",
        "attempts",
        "route_reason",
        "tags",
    ):
        assert field in event, field
    assert event["cost_usd"] == "0.50" and event["api_key"] == usage["key"].pk
    page2 = member_client.get(EVENTS, {"page_size": 2, "page": 2}).json()
    assert [e["request_id"] for e in page2["results"]] == ["r3", "r-old"]
    assert "theirs" not in str(body) + str(page2)


def test_events_filters(owner_client, usage):
    ids = lambda **p: [e["request_id"] for e in owner_client.get(EVENTS, p).json()["results"]]  # noqa: E731
    assert ids(start="2026-11-02", end="2026-11-02") == ["r2"]
    assert ids(tag="a") == ["r1"]
    assert ids(status="error") == ["r3"]
    assert ids(key=usage["key"].pk) == ["r2", "r1"]


def test_events_outsider_and_scopes(outsider_client, key_client, usage):
    assert [e["request_id"] for e in outsider_client.get(EVENTS).json()["results"]] == ["theirs"]
    assert key_client("read").get(EVENTS).json()["count"] == 4
    assert_error(key_client("inference").get(EVENTS), 403, "permission_denied")
    assert_error(key_client("read").get(EVENTS, {"page": 99}), 404, "not_found")
