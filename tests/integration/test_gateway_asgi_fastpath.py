"""The bare ASGI endpoints (`llm.views.v1_asgi`) behave exactly like the Django views."""

import dataclasses
import socket

import httpx
import openai
import pytest

from tests.integration.conftest import MESSAGES, cost, settle_events
from tests.support.mock_upstreams import Ok, ServerError

BODY = {"model": "auto", "messages": MESSAGES}


@pytest.fixture
def lean(gw, lean_gateway_server):
    return dataclasses.replace(gw, url=lean_gateway_server)


def test_sdk_plain_and_streaming(lean):
    raw = lean.client().chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "Hello from mock"
    assert raw.headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    assert raw.headers["x-tollgate-cache"] == "miss"
    assert raw.headers["content-type"] == "application/json"
    chunks = list(
        lean.client().chat.completions.create(
            model="anthropic/claude-haiku-4-5",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello from mock"
    )
    assert chunks[-1].usage.completion_tokens == 5
    assert [m.id for m in lean.client().models.list().data][:2] == ["auto", "default"]
    assert len(settle_events(2)) == 2


def test_errors_have_the_contract_shape(lean):
    assert lean.post(b"{").json()["error"]["code"] == "invalid_request"
    assert lean.post(BODY, secret="tg_nope").status_code == 401
    wrong_method = httpx.get(f"{lean.url}/v1/chat/completions")
    assert wrong_method.status_code == 405
    assert httpx.get(f"{lean.url}/v1/nothing").status_code == 404
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{lean.url}/v1", api_key="tg_x", max_retries=0).models.list()


def test_fallback_and_headers(lean):
    lean.upstreams["openai"].script(ServerError(500), ServerError(500))
    response = lean.post(BODY)
    assert response.headers["x-tollgate-fallback"] == "true"
    assert response.headers["x-tollgate-attempts"] == "3"


def test_the_rest_of_the_site_still_goes_to_django(lean):
    response = httpx.get(f"{lean.url}/admin/login/")
    assert response.status_code == 200


def test_disconnect_mid_stream_is_billed_in_full(lean):
    words = " ".join(f"w{i}" for i in range(40))
    lean.upstreams["openai"].script(
        Ok(content=words, input_tokens=30, output_tokens=40, chunk_delay=0.05)
    )
    host, port = lean.url.removeprefix("http://").split(":")
    payload = b'{"model": "auto", "stream": true, "messages": [{"role": "user", "content": "x"}]}'
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {lean.secret}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    sock = socket.create_connection((host, int(port)))
    sock.sendall(request)
    received = b""
    while b"data:" not in received:
        received += sock.recv(4096)
    sock.close()
    [event] = settle_events(1)
    assert event.output_tokens == 40
    assert event.cost_usd == cost("openai/gpt-4o-mini", 30, 40)
