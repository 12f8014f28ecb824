"""The aiohttp transport behind httpx's API, against a real HTTP server (the OpenAI mock)."""

import gzip
import socket
import zlib

import httpx
import orjson
import pytest

from llm.providers.aiohttp_transport import AiohttpTransport, PlainAnswer, StreamedAnswer, _decoded
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


# The direct path: the same request on the wire, the same errors, no httpx objects.


async def test_send_plain_sends_what_the_httpx_client_sends(openai_upstream):
    openai_upstream.script(Ok(content="direct", input_tokens=3, output_tokens=2))
    openai_upstream.script(Ok(content="through httpx", input_tokens=3, output_tokens=2))
    transport = AiohttpTransport()
    url = f"{openai_upstream.base_url}/chat/completions"
    headers = {**HEADERS, "Content-Type": "application/json"}
    try:
        answer = await transport.send_plain(
            method="POST", url=url, headers=headers, body=orjson.dumps(BODY), timeout=5.0
        )
        async with httpx.AsyncClient(transport=transport, timeout=5.0) as http:
            await http.post(url, content=orjson.dumps(BODY), headers=headers)
    finally:
        await transport.aclose()
    assert answer.status == 200
    assert orjson.loads(answer.body)["choices"][0]["message"]["content"] == "direct"
    assert answer.headers["content-type"].startswith("application/json")  # case-insensitive
    direct, through_httpx = openai_upstream.requests[-2:]
    assert direct.json == through_httpx.json == BODY
    for name in ("authorization", "x-probe", "content-type", "user-agent", "accept"):
        assert direct.headers.get(name) == through_httpx.headers.get(name), name
    assert "gzip" in direct.headers["accept-encoding"]


async def test_send_plain_error_status_timeout_and_refusal(openai_upstream):
    transport = AiohttpTransport()
    url = f"{openai_upstream.base_url}/chat/completions"
    try:
        openai_upstream.script(ServerError(status=503))
        answer = await transport.send_plain(
            method="POST", url=url, headers={}, body=orjson.dumps(BODY), timeout=5.0
        )
        assert answer.status == 503 and b"error" in answer.body
        openai_upstream.script(Slow(delay=1.5))
        with pytest.raises(httpx.ReadTimeout):
            await transport.send_plain(
                method="POST", url=url, headers={}, body=orjson.dumps(BODY), timeout=0.3
            )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(httpx.ConnectError):
            await transport.send_plain(
                method="POST",
                url=f"http://127.0.0.1:{port}/v1/chat/completions",
                headers={},
                body=b"{}",
                timeout=5.0,
            )
    finally:
        await transport.aclose()


def test_a_compressed_answer_is_decoded():
    text = b'{"choices": []}' * 50
    gzip_body = gzip.compress(text)
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert _decoded(gzip_body, "gzip") == text
    assert _decoded(zlib.compress(text), "deflate") == text
    assert _decoded(raw_deflate.compress(text) + raw_deflate.flush(), "Deflate ") == text
    assert _decoded(text, None) == _decoded(text, "identity") == text
    with pytest.raises(httpx.DecodingError):
        _decoded(b"not gzip", "gzip")
    with pytest.raises(httpx.DecodingError):
        _decoded(text, "br")  # never asked for


async def test_send_stream_reads_as_it_arrives_and_reads_errors_whole(openai_upstream):
    transport = AiohttpTransport()
    url = f"{openai_upstream.base_url}/chat/completions"
    body = orjson.dumps({**BODY, "stream": True})
    try:
        openai_upstream.script(Ok(content="one two three four", chunk_delay=0.01))
        answer = await transport.send_stream(
            method="POST", url=url, headers={}, body=body, timeout=5.0
        )
        assert isinstance(answer, StreamedAnswer) and answer.status == 200
        chunks = [chunk async for chunk in answer.aiter_raw()]
        await answer.aclose()
        assert len(chunks) > 1 and b"".join(chunks).rstrip().endswith(b"data: [DONE]")
        openai_upstream.script(TruncatedStream(after_chunks=2))
        answer = await transport.send_stream(
            method="POST", url=url, headers={}, body=body, timeout=5.0
        )
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async for _ in answer.aiter_raw():
                pass
        await answer.aclose()
        openai_upstream.script(ServerError(status=503))
        error = await transport.send_stream(
            method="POST", url=url, headers={}, body=body, timeout=5.0
        )
        assert isinstance(error, PlainAnswer) and error.status == 503 and b"error" in error.body
    finally:
        await transport.aclose()
