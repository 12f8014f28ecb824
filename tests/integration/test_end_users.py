"""End users through the real gateway: stored on the usage event from each source, refused
when malformed (README "End users")."""

import httpx

from tests.integration.conftest import MESSAGES, settle_events


def test_end_user_from_header_or_body_is_on_the_usage_event(gw):
    assert gw.post({"model": "auto", "messages": MESSAGES, "user": "cust-1"}).status_code == 200
    headers = {"X-Tollgate-User": "cust-2"}
    body = {"model": "auto", "messages": MESSAGES, "user": "ignored"}
    assert gw.post(body, headers=headers).status_code == 200
    events = settle_events(2)
    assert sorted(e.end_user for e in events) == ["cust-1", "cust-2"]


def test_messages_metadata_user_id_is_the_end_user(gw):
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hi"}],
        "metadata": {"user_id": "anthropic-user"},
    }
    headers = {"x-api-key": gw.secret, "anthropic-version": "2023-06-01"}
    response = httpx.post(f"{gw.url}/v1/messages", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    [event] = settle_events(1)
    assert event.end_user == "anthropic-user"


def test_malformed_end_user_is_400_naming_it_and_calls_nobody(gw):
    response = gw.post({"model": "auto", "messages": MESSAGES, "user": "u" * 129})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "'user'" in error["message"]
    response = gw.post({"model": "auto", "messages": MESSAGES}, headers={"X-Tollgate-User": "a\tb"})
    assert response.status_code == 400 and "X-Tollgate-User" in response.json()["error"]["message"]
    assert sum(len(u.requests) for u in gw.upstreams.values()) == 0
