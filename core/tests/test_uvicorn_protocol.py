"""A response's head leaves with its first body bytes: one socket write per plain answer, in
order, nothing held past its turn, lost on close or written to a connection the peer has left."""

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.uvicorn_protocol import HeadHoldingTransport, JoinedHeadHttpToolsProtocol


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.calls.append("write")

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default


async def _next_turn() -> None:
    await asyncio.sleep(0)


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n"


def _transport(inner: RecordingTransport, loop=None) -> HeadHoldingTransport:
    return HeadHoldingTransport(transport=inner, loop=loop or asyncio.get_running_loop())


async def test_a_response_head_leaves_with_the_next_write_and_that_write_is_not_held():
    inner = RecordingTransport()
    transport = _transport(inner)
    transport.write(HEAD)
    assert inner.writes == []
    assert transport.get_write_buffer_size() == 7 + len(HEAD)
    transport.write(b'{"a":1}')
    assert inner.writes == [HEAD + b'{"a":1}']  # at once, not at the end of the turn
    await _next_turn()  # the scheduled flush finds nothing held
    assert inner.writes == [HEAD + b'{"a":1}']


async def test_a_head_alone_goes_out_at_the_end_of_its_turn():
    inner = RecordingTransport()
    transport = _transport(inner)
    transport.write(HEAD)  # a stream's head; its first chunk comes later
    await _next_turn()
    assert inner.writes == [HEAD]


async def test_writes_that_are_not_a_head_go_straight_to_the_socket_in_order():
    inner = RecordingTransport()
    transport = _transport(inner)
    transport.writelines([b"data: 1\n\n", b"data: 2\n\n"])
    assert inner.writes == [b"data: 1\n\n", b"data: 2\n\n"]


async def test_close_and_write_eof_send_a_held_head_first_and_abort_drops_it():
    inner = RecordingTransport()
    transport = _transport(inner)
    transport.write(HEAD)
    transport.close()
    assert inner.calls == ["write", "close"] and inner.writes == [HEAD]
    await _next_turn()
    assert inner.calls == ["write", "close"]

    inner = RecordingTransport()
    transport = _transport(inner)
    transport.write(HEAD)
    transport.write_eof()
    assert inner.calls == ["write", "write_eof"]

    inner = RecordingTransport()
    transport = _transport(inner)
    transport.write(HEAD)
    transport.abort()
    await _next_turn()
    assert inner.calls == ["abort"]


async def test_a_head_is_not_written_to_a_connection_that_closed_during_the_turn():
    inner = RecordingTransport()
    transport = _transport(inner)
    transport.write(HEAD)
    inner.closing = True  # the peer reset the connection before the turn ended
    await _next_turn()
    assert inner.writes == []


def test_everything_else_is_the_wrapped_transports():
    inner = RecordingTransport()
    transport = HeadHoldingTransport(transport=inner, loop=asyncio.new_event_loop())
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
    assert transport.is_closing() is False


async def _app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for n in range(3):
            await send(
                {"type": "http.response.body", "body": b"data: %d\n\n" % n, "more_body": True}
            )
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"ok":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


SOCKET_WRITES: list[bytes] = []


class CountingTransport:
    """Between uvicorn's protocol and the socket: records each write that reaches the socket."""

    def __init__(self, transport) -> None:
        self._transport = transport

    def write(self, data) -> None:
        SOCKET_WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


class CountedJoinedHead(JoinedHeadHttpToolsProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(CountingTransport(transport))


class CountedStock(HttpToolsProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(CountingTransport(transport))


def _serve(protocol_class):
    SOCKET_WRITES.clear()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=port,
        http=protocol_class,
        loop="uvloop",
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def server_port():
    yield from _serve(CountedJoinedHead)


@pytest.fixture
def stock_server_port():
    yield from _serve(CountedStock)


def _read_response(conn: socket.socket, *, until: bytes) -> bytes:
    data = b""
    while until not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def _three_plain_answers(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for _ in range(3):  # keep-alive: the same connection answers again
            conn.sendall(b"POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}")
            answer = _read_response(conn, until=b'{"ok":true}')
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_plain_answer_is_one_socket_write_where_stock_uvicorn_makes_two(
    server_port, stock_server_port
):
    _three_plain_answers(stock_server_port)
    assert len(SOCKET_WRITES) == 6  # status line and headers, then the body
    SOCKET_WRITES.clear()
    _three_plain_answers(server_port)
    assert len(SOCKET_WRITES) == 3
    assert all(write.endswith(b'\r\n\r\n{"ok":true}') for write in SOCKET_WRITES)


def test_a_stream_is_written_as_it_comes_and_ends_with_its_last_chunk(server_port):
    with socket.create_connection(("127.0.0.1", server_port), timeout=5) as conn:
        conn.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        head = _read_response(conn, until=b"data: 0\n\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in head
        rest = _read_response(conn, until=b"0\r\n\r\n")
        assert b"data: 1\n\n" in rest and b"data: 2\n\n" in rest
    assert SOCKET_WRITES[0].startswith(b"HTTP/1.1 200 OK") and SOCKET_WRITES[0].endswith(
        b"data: 0\n\n\r\n"
    )
    assert len(SOCKET_WRITES) == 4  # head with the first chunk, two chunks, the last chunk
