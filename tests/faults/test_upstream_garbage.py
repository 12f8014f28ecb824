"""Upstream garbage through the real gateway (uvicorn thread): HTML and wrong content types,
bodies that are not JSON, streams cut mid-event or mid-JSON or without `[DONE]`, a client that
leaves mid-stream while the upstream breaks. Every case is a clear answer in the contract's
shape (a fallback, a 502 `upstream_error` naming the attempts, or an error event after the
first byte), never a 500; and the usage event bills what the provider reported, or our
estimate. (Malformed JSON, 5xx and truncated streams of the wire-correct mocks are in
tests/integration/test_gateway_reliability.py and test_gateway_metering.py.)"""

import json

import httpx
import pytest

from tests.faults.garbage_upstream import (
    DONE,
    GarbageUpstream,
    chunk,
    plain,
    stream,
    usage_chunk,
)
from tests.integration.conftest import MESSAGES, cost, settle_events

pytestmark = pytest.mark.slow

BODY = {"model": "auto", "messages": MESSAGES}
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>"
)
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-json",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
)


@pytest.fixture
def garbage(gw, monkeypatch):
    """OpenAI (the first candidate) answers with scripted bytes; the fallbacks are the mocks."""
    upstream = GarbageUpstream().start()
    monkeypatch.setenv("TOLLGATE_OPENAI_BASE_URL", upstream.base_url)
    yield upstream
    upstream.stop()


def _sse_events(text: str) -> list:
    events = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            data = block.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def _content(events: list) -> str:
    return "".join(
        (c.get("delta") or {}).get("content") or ""
        for e in events
        if isinstance(e, dict)
        for c in e.get("choices") or ()
    )


def _assert_upstream_error_event(events: list) -> None:
    assert events[-1] != "[DONE]"
    error = events[-1]["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert error["message"]


@pytest.mark.parametrize(
    "reply",
    [
        plain(200, "text/html", "<html><body>All good!</body></html>"),
        plain(200, "text/plain", "OK"),
        plain(200, "application/json", '{"id": "chatcmpl-x", "choices": [{"mess'),
    ],
    ids=["html-200", "text-200", "json-cut"],
)
def test_a_200_that_is_not_a_completion_falls_back(gw, garbage, reply):
    garbage.script(reply)
    response = gw.post(BODY)
    assert response.status_code == 200
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    [event] = settle_events(1)
    assert event.status == "fallback_success"
    assert event.attempts[0]["model"] == "openai/gpt-4o-mini"
    assert event.attempts[0]["status"] == "error"


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (plain(502, "text/html", NGINX_502), "server"),
        (plain(200, "text/html", "<!doctype html><title>Login</title>"), "malformed"),
    ],
    ids=["html-502", "html-200"],
)
def test_garbage_on_every_attempt_is_502_naming_the_attempts(gw, garbage, reply, kind):
    gw.set_config(fallback_models=[])
    garbage.script(*[reply] * 5)
    response = gw.post(BODY)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert "openai/gpt-4o-mini" in error["message"]
    assert kind in error["message"]
    assert "<html" not in error["message"].lower() and "<!doctype" not in error["message"].lower()
    assert response.headers["x-tollgate-attempts"] == str(garbage.requests)
    [event] = settle_events(1)
    assert (event.status, event.error_code, event.cost_usd) == ("error", "upstream_error", 0)
    assert len(event.attempts) == garbage.requests


def test_a_stream_answered_with_plain_json_falls_back_before_the_first_byte(gw, garbage):
    garbage.script(plain(200, "application/json", COMPLETION))
    response = gw.post({**BODY, "stream": True})
    assert response.status_code == 200
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    events = _sse_events(response.text)
    assert events[-1] == "[DONE]"
    assert _content(events)


def test_a_stream_cut_mid_event_ends_with_an_error_event_and_bills_the_estimate(gw, garbage):
    cut = chunk(" and the rest of the sentence")[:40]  # the connection dies inside this event
    frames = [chunk(role=True), chunk("Hello"), chunk(" world"), cut]
    garbage.script(stream(frames, end=False, delay=0.05))
    response = gw.post({**BODY, "stream": True})
    assert response.status_code == 200  # the first bytes went out: no fallback any more
    events = _sse_events(response.text)
    assert _content(events) == "Hello world"
    _assert_upstream_error_event(events)
    [event] = settle_events(1)
    assert event.status == "error"
    assert event.output_tokens == 3  # our estimate: 11 characters
    assert event.input_tokens > 0  # the provider never said: our estimate of the prompt
    assert event.cost_usd == cost("openai/gpt-4o-mini", event.input_tokens, 3) > 0
    assert "stream failed after the first byte" in event.attempts[-1]["note"]


def test_invalid_json_before_the_first_byte_falls_back(gw, garbage):
    bad = b'data: {"id": "chatcmpl-garbage", "choices": [{"delta": {"content": "oo\n\n'
    garbage.script(stream([chunk(role=True), bad, chunk("more"), DONE]))
    response = gw.post({**BODY, "stream": True})
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert _sse_events(response.text)[-1] == "[DONE]"


def test_invalid_json_mid_stream_ends_with_an_error_event_and_bills_the_estimate(gw, garbage):
    bad = b'data: {"id": "chatcmpl-garbage", "choices": [{"delta": {"content": "oo\n\n'
    # Apart in time, so the content reached the client before the bad event arrives.
    frames = [chunk(role=True), chunk("Hello there"), bad, chunk("more"), DONE]
    garbage.script(stream(frames, delay=0.05))
    response = gw.post({**BODY, "stream": True})
    assert response.status_code == 200
    events = _sse_events(response.text)
    assert _content(events) == "Hello there"  # nothing after the bad event is passed on
    _assert_upstream_error_event(events)
    assert "malformed" in events[-1]["error"]["message"]
    [event] = settle_events(1)
    assert (event.status, event.output_tokens) == ("error", 3)
    assert event.cost_usd > 0


def test_a_stream_without_done_is_billed_what_the_provider_reported(gw, garbage):
    frames = [chunk(role=True), chunk("Hello"), chunk(finish="stop"), usage_chunk(30, 7)]
    garbage.script(stream(frames, delay=0.05))  # a clean end of the body, but no [DONE]
    response = gw.post({**BODY, "stream": True})
    assert response.status_code == 200
    events = _sse_events(response.text)
    assert _content(events) == "Hello"
    _assert_upstream_error_event(events)
    [event] = settle_events(1)
    assert (event.input_tokens, event.output_tokens) == (30, 7)
    assert event.cost_usd == cost("openai/gpt-4o-mini", 30, 7)


def test_a_client_that_leaves_while_the_upstream_breaks_is_billed(gw, garbage):
    words = [chunk(f" w{n}") for n in range(8)]
    cut = chunk(" unfinished")[:30]
    garbage.script(stream([chunk(role=True), chunk("Hi"), *words, cut], end=False, delay=0.05))
    gw.stream_and_leave(content="hi")  # gone after the first chunk
    [event] = settle_events(1)
    assert event.status == "error"
    assert event.output_tokens == 7  # "Hi" + 8 x " wN": 26 characters, read after it left
    assert event.cost_usd == cost("openai/gpt-4o-mini", event.input_tokens, 7) > 0


def test_a_plain_body_cut_mid_json_is_retried_then_falls_back(gw, garbage):
    def cut_body(conn):
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
        conn.sendall(head.encode() + COMPLETION.encode()[:60])

    garbage.script(cut_body, cut_body, cut_body)
    response = gw.post(BODY)
    assert response.status_code == 200
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    [event] = settle_events(1)
    assert event.status == "fallback_success"
    assert all(a["status"] == "error" for a in event.attempts[:-1])


def test_garbage_never_becomes_a_500(gw, garbage):
    """Whatever came back, every answer is in the contract's shape."""
    gw.set_config(fallback_models=[])
    garbage.script(
        plain(200, "application/json", "[1, 2, 3]"),
        plain(200, "application/json", '{"choices": "nope"}'),
        plain(200, "application/json", "null"),
        plain(204, "application/json", ""),
        plain(301, "text/html", "<a href='http://evil'>moved</a>"),
    )
    for _ in range(5):
        response = httpx.post(
            f"{gw.url}/v1/chat/completions",
            json={**BODY, "max_tokens": 5},
            headers={"Authorization": f"Bearer {gw.secret}"},
            timeout=30,
        )
        assert response.status_code in (200, 502), response.text
        if response.status_code == 502:
            assert response.json()["error"]["code"] == "upstream_error"
