"""The aiohttp transport behind httpx's API, against a real HTTP server (the OpenAI mock)."""

import socket

import httpx
import orjson
import pytest

from llm.providers.aiohttp_transport import AiohttpTransport
from tests.support.mock_upstreams import Ok, ServerError, Slow, TruncatedStream

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
HEADERS = {"Authorization": "Bearer sk-test-transport-0000", "X-Probe": "yes"}


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AiohttpTransport(), timeout=5.0)


async def test_plain_request_round_trip(openai_upstream):
    openai_upstream.script(Ok(content="transported", input_tokens=3, output_tokens=2))
    async with client() as http:
        response = await http.post(
            f"{openai_upstream.base_url}/chat/completions",
            content=orjson.dumps(BODY),
            headers={**HEADERS, "Content-Type": "application/json"},
        )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "transported"
    received = openai_upstream.requests[-1]
    assert received.json == BODY
    assert received.headers["authorization"] == HEADERS["Authorization"]
    assert received.headers["x-probe"] == "yes"


async def test_error_status_and_body_pass_through(openai_upstream):
    openai_upstream.script(ServerError(status=503))
    async with client() as http:
        response = await http.post(f"{openai_upstream.base_url}/chat/completions", json=BODY)
    assert response.status_code == 503
    assert "error" in response.json()


async def test_streaming_body_arrives_in_pieces_and_completes(openai_upstream):
    openai_upstream.script(Ok(content="one two three four", chunk_delay=0.01))
    async with client() as http:
        request = http.build_request(
            "POST", f"{openai_upstream.base_url}/chat/completions", json={**BODY, "stream": True}
        )
        response = await http.send(request, stream=True)
        chunks = [chunk async for chunk in response.aiter_raw()]
        await response.aclose()
    text = b"".join(chunks)
    assert response.status_code == 200 and len(chunks) > 1
    assert text.rstrip().endswith(b"data: [DONE]")


async def test_truncated_stream_is_a_remote_protocol_error(openai_upstream):
    openai_upstream.script(TruncatedStream(after_chunks=2))
    async with client() as http:
        request = http.build_request(
            "POST", f"{openai_upstream.base_url}/chat/completions", json={**BODY, "stream": True}
        )
        response = await http.send(request, stream=True)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async for _ in response.aiter_raw():
                pass
        await response.aclose()


async def test_slow_answer_is_a_read_timeout(openai_upstream):
    openai_upstream.script(Slow(delay=1.5))
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{openai_upstream.base_url}/chat/completions", json=BODY)


async def test_refused_connection_is_a_connect_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY)
