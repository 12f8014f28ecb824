"""Tollgate's own HTTP/1.1 client (the direct path of trusted calls): against the OpenAI mock,
the same request on the wire as the httpx client and the same errors; against a raw socket
server that writes exactly the bytes a test scripts, framing (chunked, close-delimited),
keep-alive and its end, the connection limit, header injection and back-pressure."""

import asyncio
import gzip
import socket
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import orjson
import pytest

from llm.providers.aiohttp_transport import AiohttpTransport
from llm.providers.http11_client import Http11Client, PlainAnswer, StreamedAnswer, decoded_body
from tests.support.mock_upstreams import Ok, ServerError, Slow, TruncatedStream
from tests.support.network_fakes import TlsServer

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
HEADERS = {"Authorization": "Bearer sk-test-transport-0000", "X-Probe": "yes"}
OK_JSON = b'{"ok": true}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


async def send(client: Http11Client, url: str, *, timeout: float = 5.0, **headers: str):
    return await client.send_plain(
        method="POST", url=url, headers=headers, body=orjson.dumps(BODY), timeout=timeout
    )


# Against the OpenAI mock: what the httpx client would have sent and read.


async def test_a_plain_call_sends_what_the_httpx_client_sends(openai_upstream):
    openai_upstream.script(Ok(content="direct", input_tokens=3, output_tokens=2))
    openai_upstream.script(Ok(content="through httpx", input_tokens=3, output_tokens=2))
    client = Http11Client()
    url = f"{openai_upstream.base_url}/chat/completions"
    headers = {**HEADERS, "Content-Type": "application/json"}
    try:
        answer = await client.send_plain(
            method="POST", url=url, headers=headers, body=orjson.dumps(BODY), timeout=5.0
        )
        async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=5.0) as http:
            await http.post(url, content=orjson.dumps(BODY), headers=headers)
    finally:
        await client.aclose()
    assert answer.status == 200
    assert orjson.loads(answer.body)["choices"][0]["message"]["content"] == "direct"
    assert answer.headers["content-type"].startswith("application/json")  # case-insensitive
    direct, through_httpx = openai_upstream.requests[-2:]
    assert direct.json == through_httpx.json == BODY
    for name in ("authorization", "x-probe", "content-type", "user-agent", "accept", "host"):
        assert direct.headers.get(name) == through_httpx.headers.get(name), name
    assert "gzip" in direct.headers["accept-encoding"]


async def test_an_error_status_a_slow_answer_and_a_refused_connection(openai_upstream):
    client = Http11Client()
    url = f"{openai_upstream.base_url}/chat/completions"
    try:
        openai_upstream.script(ServerError(status=503))
        answer = await send(client, url)
        assert answer.status == 503 and b"error" in answer.body
        openai_upstream.script(Slow(delay=1.5))
        with pytest.raises(httpx.ReadTimeout):
            await send(client, url, timeout=0.3)
        with pytest.raises(httpx.ConnectError):
            await send(client, f"http://127.0.0.1:{_free_port()}/v1/chat/completions")
        openai_upstream.script(Ok(content="after the failures"))
        assert b"after the failures" in (await send(client, url)).body
    finally:
        await client.aclose()


def test_a_compressed_answer_is_decoded():
    text = b'{"choices": []}' * 50
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decoded_body(gzip.compress(text), "gzip") == text
    assert decoded_body(zlib.compress(text), "deflate") == text
    assert decoded_body(raw_deflate.compress(text) + raw_deflate.flush(), "Deflate ") == text
    assert decoded_body(text, None) == decoded_body(text, "identity") == text
    with pytest.raises(httpx.DecodingError):
        decoded_body(b"not gzip", "gzip")
    with pytest.raises(httpx.DecodingError):
        decoded_body(text, "br")  # never asked for


async def test_a_stream_is_read_as_it_arrives_and_an_error_answer_whole(openai_upstream):
    client = Http11Client()
    url = f"{openai_upstream.base_url}/chat/completions"
    body = orjson.dumps({**BODY, "stream": True})
    try:
        openai_upstream.script(Ok(content="one two three four", chunk_delay=0.01))
        answer = await client.send_stream(method="POST", url=url, headers={}, body=body, timeout=5)
        assert isinstance(answer, StreamedAnswer) and answer.status == 200
        chunks = [chunk async for chunk in answer.aiter_raw()]
        await answer.aclose()
        assert len(chunks) > 1 and b"".join(chunks).rstrip().endswith(b"data: [DONE]")
        openai_upstream.script(TruncatedStream(after_chunks=2))
        answer = await client.send_stream(method="POST", url=url, headers={}, body=body, timeout=5)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async for _ in answer.aiter_raw():
                pass
        await answer.aclose()
        openai_upstream.script(ServerError(status=503))
        error = await client.send_stream(method="POST", url=url, headers={}, body=body, timeout=5)
        assert isinstance(error, PlainAnswer) and error.status == 503 and b"error" in error.body
    finally:
        await client.aclose()


async def test_https_checks_the_certificate_and_names_the_host(tmp_path):
    server = TlsServer(hostname="localhost", directory=tmp_path)
    with server.running():
        trusting = Http11Client(ssl_context=server.client_context)
        url = f"https://localhost:{server.port}/v1/models"
        try:
            answer = await trusting.send_plain(
                method="GET", url=url, headers={}, body=b"", timeout=5
            )
        finally:
            await trusting.aclose()
        assert answer.status == 200 and answer.body == OK_JSON
        assert server.server_names == ["localhost"]
        assert server.hosts == [f"localhost:{server.port}"]
        system_certificates = Http11Client()
        try:
            with pytest.raises(httpx.ConnectError):  # a self-signed certificate is not trusted
                await system_certificates.send_plain(
                    method="GET", url=url, headers={}, body=b"", timeout=5
                )
        finally:
            await system_certificates.aclose()


# Against a raw server: each answer is the exact bytes a test gives.


@dataclass
class RawServer:
    """Answers each request (head and Content-Length body read) with the next scripted bytes;
    after an answer marked `close`, closes the connection. Counts connections, keeps requests."""

    answers: list[tuple[bytes, bool]] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    delay: float = 0.0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    handlers: set[asyncio.Task] = field(default_factory=set)

    def script(self, answer: bytes, *, close: bool = False) -> None:
        self.answers.append((answer, close))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        self.handlers.add(asyncio.current_task())
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self.requests.append(head + await reader.readexactly(length))
                answer, close = self.answers.pop(0)
                await asyncio.sleep(self.delay)
                writer.write(answer)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def raw_server() -> AsyncIterator[RawServer]:
    state = RawServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        for writer in state.writers:
            writer.close()
        server.close()
        await server.wait_closed()
        if state.handlers:
            await asyncio.wait(state.handlers, timeout=2)


def answer(body: bytes = OK_JSON, *, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
        % (
            len(body),
            extra,
            body,
        )
    )


async def test_keep_alive_one_connection_for_sequential_calls_a_new_one_after_close():
    async with raw_server() as server:
        client = Http11Client()
        try:
            for _ in range(3):
                server.script(answer())
            server.script(answer(extra=b"Connection: close\r\n"), close=True)
            server.script(answer(b'{"after": "close"}'))
            for _ in range(4):
                assert (await send(client, server.url)).body == OK_JSON
            assert server.connections == 1
            assert (await send(client, server.url)).body == b'{"after": "close"}'
            assert server.connections == 2
        finally:
            await client.aclose()
        head = server.requests[0].split(b"\r\n\r\n")[0].decode()
        assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{server.port}" in head
        assert f"Content-Length: {len(orjson.dumps(BODY))}" in head


async def test_chunked_and_close_delimited_answers_are_read_whole():
    pieces = [b'{"a":', b' 1, "b"', b": 2", b"}"]
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b'{"till": "the end"}'
    async with raw_server() as server:
        client = Http11Client()
        try:
            server.script(chunked)
            server.script(until_close, close=True)
            assert orjson.loads((await send(client, server.url)).body) == {"a": 1, "b": 2}
            assert (await send(client, server.url)).body == b'{"till": "the end"}'
        finally:
            await client.aclose()
        assert server.connections == 1  # the chunked answer left the connection reusable


async def test_an_informational_answer_is_skipped_for_the_one_that_follows():
    async with raw_server() as server:
        client = Http11Client()
        try:
            server.script(b"HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\n" + answer(b'{"real": 1}'))
            server.script(answer())
            first = await send(client, server.url)
            assert first.status == 200 and first.body == b'{"real": 1}'
            assert "x-early" not in first.headers
            assert (await send(client, server.url)).body == OK_JSON
            assert server.connections == 1
        finally:
            await client.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_used_again():
    async with raw_server() as server:
        client = Http11Client()
        try:
            server.script(answer())
            server.script(answer(b'{"second": true}'))
            await send(client, server.url)
            server.writers[0].close()  # the upstream's keep-alive timeout
            await asyncio.sleep(0.05)
            assert (await send(client, server.url)).body == b'{"second": true}'
            assert server.connections == 2
        finally:
            await client.aclose()


async def test_an_idle_connection_past_the_keepalive_expiry_is_closed():
    async with raw_server() as server:
        client = Http11Client(keepalive_expiry=0.1)
        try:
            server.script(answer())
            server.script(answer())
            await send(client, server.url)
            await asyncio.sleep(0.25)
            await send(client, server.url)
            assert server.connections == 2
        finally:
            await client.aclose()


async def test_at_the_connection_limit_a_request_waits_for_a_free_connection():
    async with raw_server() as server:
        server.delay = 0.05
        client = Http11Client(max_connections=1)
        try:
            for index in range(3):
                server.script(answer(b'{"n": %d}' % index))
            answers = await asyncio.gather(*(send(client, server.url) for _ in range(3)))
            assert sorted(orjson.loads(a.body)["n"] for a in answers) == [0, 1, 2]
            assert server.connections == 1
        finally:
            await client.aclose()


async def test_at_the_limit_an_idle_connection_of_another_origin_makes_room():
    """Idle keep-alive connections to one provider must not keep another's requests waiting
    until they expire."""
    async with raw_server() as first, raw_server() as second:
        client = Http11Client(max_connections=2, keepalive_expiry=60)
        try:
            for _ in range(2):
                first.script(answer())
            await asyncio.gather(send(client, first.url), send(client, first.url))
            assert first.connections == 2  # both idle now, the limit reached
            second.script(answer(b'{"n": 2}'))
            answered = await asyncio.wait_for(send(client, second.url), timeout=2)
            assert orjson.loads(answered.body) == {"n": 2}
            first.script(answer(b'{"n": 3}'))  # the other idle connection is still reused
            assert orjson.loads((await send(client, first.url)).body) == {"n": 3}
            assert first.connections == 2 and second.connections == 1
        finally:
            await client.aclose()


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "yes\r\nX-Injected: 1"}, {"X-Evil\r\nX-Injected": "1"}, {"X-Name": "caf\u20ac"}],
)
async def test_a_header_that_would_break_its_line_is_refused_before_anything_is_sent(headers):
    async with raw_server() as server:
        client = Http11Client()
        try:
            with pytest.raises(httpx.LocalProtocolError):
                await client.send_plain(
                    method="POST", url=server.url, headers=headers, body=b"{}", timeout=5
                )
        finally:
            await client.aclose()
        assert server.connections == 0 and server.requests == []


async def test_the_callers_framing_headers_give_way_to_the_requests_own():
    async with raw_server() as server:
        client = Http11Client()
        try:
            server.script(answer())
            await client.send_plain(
                method="POST",
                url=server.url,
                headers={"Content-Length": "999", "host": "elsewhere", "Connection": "close"},
                body=b"{}",
                timeout=5,
            )
        finally:
            await client.aclose()
        head = server.requests[0].decode().lower()
        assert head.count("content-length:") == 1 and "content-length: 2\r\n" in head
        assert "elsewhere" not in head and "connection:" not in head


@pytest.mark.parametrize(
    "bad",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # then the socket closes
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
async def test_a_broken_answer_is_a_remote_protocol_error(bad):
    async with raw_server() as server:
        client = Http11Client()
        try:
            server.script(bad, close=True)
            with pytest.raises(httpx.RemoteProtocolError):
                await send(client, server.url)
        finally:
            await client.aclose()


async def test_a_large_stream_read_slowly_arrives_whole_and_in_order():
    """More than the read-ahead limit: the socket is paused while the reader lags, not
    dropped, and the connection serves the next request afterwards."""
    pieces = [b"data: %06d %s\n\n" % (index, b"x" * 2000) for index in range(1500)]  # ~3 MB
    body = b"".join(pieces)
    async with raw_server() as server:
        client = Http11Client()
        try:
            server.script(answer(body, extra=b""))
            server.script(answer())
            streamed = await client.send_stream(
                method="POST", url=server.url, headers={}, body=b"{}", timeout=5
            )
            assert isinstance(streamed, StreamedAnswer)
            received = []
            async for chunk in streamed.aiter_raw():
                received.append(chunk)
                await asyncio.sleep(0.002)
            await streamed.aclose()
            assert b"".join(received) == body
            assert (await send(client, server.url)).body == OK_JSON
            assert server.connections == 1
        finally:
            await client.aclose()


async def test_a_stream_that_stalls_is_a_read_timeout_and_one_closed_early_is_not_reused():
    stalled = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    async with raw_server() as server:
        client = Http11Client()
        try:
            server.script(stalled)
            streamed = await client.send_stream(
                method="POST", url=server.url, headers={}, body=b"{}", timeout=0.2
            )
            assert isinstance(streamed, StreamedAnswer)
            chunks: list[bytes] = []
            with pytest.raises(httpx.ReadTimeout):
                async for chunk in streamed.aiter_raw():
                    chunks.append(chunk)
            assert chunks == [b"hello"]
            await streamed.aclose()
            server.script(stalled)
            server.script(answer())
            early = await client.send_stream(
                method="POST", url=server.url, headers={}, body=b"{}", timeout=5
            )
            assert isinstance(early, StreamedAnswer)
            await early.aclose()  # unread: that connection can't carry another request
            assert (await send(client, server.url)).body == OK_JSON
            assert server.connections == 3
        finally:
            await client.aclose()
