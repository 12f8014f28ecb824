"""Tollgate's own HTTP/1.1 client, for trusted upstream calls (the direct path of http.py).

aiohttp's client spent 270-420 us of CPU per plain call here (bench/upstream_call_cpu.py), about
a third of a gateway request's work; most of it is machinery a call to a catalog provider does
not use (cookie jar, redirects, tracing signals, request and response objects, its timeout
context). This is one asyncio Protocol per connection and httptools' parser (the one uvicorn
uses): the request goes out in one write, the answer is parsed in C, and connections are kept
alive in one pool per origin.

It handles: Content-Length, chunked and close-delimited answers; the gzip or deflate encoding it
asks for; a connect timeout and a read timeout (no byte for `timeout` seconds, as aiohttp's
`sock_read`); TLS with the system's certificates; at most `max_connections` open (past it an
idle connection of another origin is closed to make room, else requests wait for one). Not:
proxies, redirects (a 3xx is the caller's answer), HTTP/2, or retries (a POST is never sent
twice; an idle connection the server closes is dropped as soon as that is seen). Its failures
are httpx's exception classes, as with the other transports, so `transport_error` classifies
them all.
"""

import asyncio
import functools
import socket
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx
from multidict import CIMultiDict, CIMultiDictProxy

# What httpx's client adds to every request, so a direct call looks the same on the wire.
CLIENT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": f"python-httpx/{httpx.__version__}",
}
_CLIENT_HEADERS_BY_LOWER_NAME = {
    name.lower(): (name, value) for name, value in CLIENT_HEADERS.items()
}
# Set from the request itself; a caller's copy would contradict it.
_FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# A streamed answer's bytes held unread before the socket stops being read.
_READ_AHEAD_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class PlainAnswer:
    """A whole upstream answer: status, headers (case-insensitive) and the decoded body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def decoded_body(body: bytes, encoding: str | None) -> bytes:
    """The body without the Content-Encoding asked for (gzip, deflate)."""
    encoding = (encoding or "").strip().lower()
    try:
        if encoding == "gzip":
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:  # raw deflate, without the zlib header
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise httpx.DecodingError(f"{encoding} body could not be decoded: {exc}") from exc
    if encoding in ("", "identity"):
        return body
    raise httpx.DecodingError(f"unrequested Content-Encoding {encoding!r}")


@dataclass(frozen=True, slots=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port: the pool a connection belongs to
    host_header: str
    path: str


@functools.lru_cache(maxsize=512)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise httpx.UnsupportedProtocol(f"not an http(s) URL: {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(
        origin=(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)),
        host_header=parts.netloc.rpartition("@")[2],
        path=path,
    )


def _request_head(*, method: str, target: _Target, headers: Mapping[str, str], size: int) -> bytes:
    """The request line and headers: httpx's client headers under the caller's (names compared
    without case), the framing headers from the request. A name or value that would end its
    line early (CR, LF) is refused: it would let a value inject headers."""
    merged = dict(_CLIENT_HEADERS_BY_LOWER_NAME)
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in _FRAMING_HEADERS:
            merged[lowered] = (name, value)
    lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"]
    for name, value in merged.values():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise httpx.LocalProtocolError(f"invalid character in header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {size}\r\n\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise httpx.LocalProtocolError("a header is not latin-1 text") from None


class _Exchange:
    """One request's answer as the connection parses it: the head, the body parts not read yet,
    and whether it is complete or failed. The reader waits on `wait()`."""

    __slots__ = (
        "_waiter",
        "buffered",
        "complete",
        "error",
        "head_done",
        "parts",
        "raw_headers",
        "status",
        "until_close",
    )

    def __init__(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.parts: list[bytes] = []
        self.buffered = 0
        self.head_done = False
        self.complete = False
        self.error: Exception | None = None
        self.until_close = True  # no Content-Length and not chunked: the body ends with the socket
        self._waiter: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        """Until the connection has news: the head, a body part, the end, or a failure."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def fail(self, error: Exception) -> None:
        if not self.complete and self.error is None:
            self.error = error
            self.wake()

    def raise_failure(self) -> None:
        if self.error is not None:
            raise self.error

    def headers(self) -> CIMultiDictProxy[str]:
        return CIMultiDictProxy(
            CIMultiDict(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in self.raw_headers
            )
        )


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one exchange at a time, then back to its pool."""

    def __init__(self, client: "Http11Client", origin: tuple[str, str, int]) -> None:
        self._client = client
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.exchange: _Exchange | None = None
        self._timeout = 0.0
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.paused = False
        self.idle_since = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # bytes nobody asked for: the connection can't be trusted again
            self.close()
            return
        self._last_read = self._client.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            exchange.fail(httpx.RemoteProtocolError(f"invalid HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            if exchange.head_done and exchange.until_close and exchange.error is None:
                exchange.complete = True
                exchange.wake()
            elif exc is not None and not isinstance(exc, ssl.SSLError):
                exchange.fail(httpx.ReadError(f"connection failed: {exc}"))
            else:
                exchange.fail(httpx.RemoteProtocolError("connection closed before the answer"))
        self._client.forget(self)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        exchange.raw_headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or lowered == b"transfer-encoding":
            exchange.until_close = False

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        exchange.status = self._parser.get_status_code()
        if exchange.status in (204, 304) or 100 <= exchange.status < 200:
            exchange.until_close = False
        if 100 <= exchange.status < 200:  # informational (100 Continue): the answer follows it
            return
        exchange.head_done = True
        exchange.wake()

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        exchange.parts.append(body)
        exchange.buffered += len(body)
        if exchange.buffered > _READ_AHEAD_BYTES and not self.paused and self.transport:
            self.transport.pause_reading()
            self.paused = True
        exchange.wake()

    def on_message_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        if not exchange.head_done:  # the end of an informational answer: wait for the real one
            exchange.status, exchange.raw_headers, exchange.until_close = 0, [], True
            return
        self.exchange = None
        self._stop_timer()
        exchange.complete = True
        exchange.wake()
        if not self._parser.should_keep_alive():
            self.close()
            return
        if self.paused and self.transport is not None:  # the rest is the finished answer's
            self.paused = False
            self.transport.resume_reading()
        self._client.release(self)

    # the exchange

    def send(self, request: bytes, *, timeout: float) -> _Exchange:
        assert self.transport is not None and self.exchange is None
        self.exchange = _Exchange()
        self._timeout = timeout
        self._last_read = self._client.loop.time()
        self._timer = self._client.loop.call_at(self._last_read + timeout, self._check_read)
        self.transport.write(request)
        return self.exchange

    def resume(self, exchange: _Exchange) -> None:
        """The reader of `exchange` took what was buffered: read the socket again (unless the
        connection has moved on to another exchange)."""
        if self.paused and self.exchange is exchange and self.transport is not None:
            self.paused = False
            self._last_read = self._client.loop.time()
            self.transport.resume_reading()

    def _check_read(self) -> None:
        """The read timeout: fires `timeout` after the last byte arrived, unless the socket is
        paused (then the reader is the slow one) or bytes came meanwhile (checked again then)."""
        self._timer = None
        if self.exchange is None:
            return
        now = self._client.loop.time()
        due = self._last_read + self._timeout
        if self.paused or due > now:
            self._timer = self._client.loop.call_at(max(due, now + 0.001), self._check_read)
            return
        self.exchange.fail(httpx.ReadTimeout("read timed out"))
        self.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class StreamedAnswer:
    """A 2xx answer whose body is read as it arrives: what the gateway reads of an
    httpx.Response for a stream (`aiter_raw`, `aclose`), and no more."""

    def __init__(self, connection: _Connection, exchange: _Exchange) -> None:
        self.status = exchange.status
        self.headers: Mapping[str, str] = exchange.headers()
        self._connection = connection
        self._exchange = exchange

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        while True:
            if exchange.parts:
                parts, exchange.parts, exchange.buffered = exchange.parts, [], 0
                self._connection.resume(exchange)
                yield parts[0] if len(parts) == 1 else b"".join(parts)
                continue
            exchange.raise_failure()
            if exchange.complete:
                return
            await exchange.wait()

    async def aclose(self) -> None:
        """Unread to its end, the connection can't carry another request: it is closed."""
        if not self._exchange.complete:
            self._connection.close()


async def _read_whole(exchange: _Exchange) -> PlainAnswer:
    while not exchange.complete:
        exchange.raise_failure()
        await exchange.wait()
    headers = exchange.headers()
    content = exchange.parts[0] if len(exchange.parts) == 1 else b"".join(exchange.parts)
    return PlainAnswer(
        status=exchange.status,
        headers=headers,
        body=decoded_body(content, headers.get("Content-Encoding")),
    )


class Http11Client:
    """One pool of keep-alive connections per origin; create it inside the event loop that uses
    it. `ssl_context` replaces the system's certificates (tests with their own CA)."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        keepalive_expiry: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._connections: set[_Connection] = set()
        self._opening = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None

    async def send_plain(
        self, *, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> PlainAnswer:
        """One request and its whole answer, decoded; `timeout` for connecting and for each
        read."""
        _connection, exchange = await self._exchange(
            method=method, url=url, headers=headers, body=body, timeout=timeout
        )
        return await _read_whole(exchange)

    async def send_stream(
        self, *, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> StreamedAnswer | PlainAnswer:
        """`send_plain` for a stream: a 2xx answer with its body unread (the caller reads and
        closes it); any other status read whole."""
        connection, exchange = await self._exchange(
            method=method, url=url, headers=headers, body=body, timeout=timeout
        )
        while not exchange.head_done:
            exchange.raise_failure()
            await exchange.wait()
        if exchange.status < 300:
            return StreamedAnswer(connection, exchange)
        return await _read_whole(exchange)

    async def aclose(self) -> None:
        for connection in list(self._connections):
            connection.close()
        self._idle.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        await asyncio.sleep(0)  # let the transports close their sockets

    # the pool

    async def _exchange(
        self, *, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[_Connection, _Exchange]:
        target = _target(url)
        request = _request_head(method=method, target=target, headers=headers, size=len(body))
        connection = self._idle_connection(target.origin) or await self._connect(
            target.origin, timeout=timeout
        )
        return connection, connection.send(request + body, timeout=timeout)

    def _idle_connection(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = self.loop.time()
        while idle:
            connection = idle.pop()
            usable = connection.transport is not None and not connection.transport.is_closing()
            if usable and now - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: tuple[str, str, int], *, timeout: float) -> _Connection:
        """A new connection; at the limit, the longest idle connection of another origin makes
        room (else idle connections of one provider would keep another's requests waiting),
        or the first one of this origin to come free is taken instead."""
        scheme, host, port = origin
        try:
            async with asyncio.timeout(timeout):
                while len(self._connections) + self._opening >= self._max_connections:
                    if self._close_longest_idle():
                        continue
                    waiter = self.loop.create_future()
                    self._slot_waiters.append(waiter)
                    await waiter
                    freed = self._idle_connection(origin)
                    if freed is not None:
                        return freed
                self._opening += 1
                try:
                    context = self._tls_context() if scheme == "https" else None
                    _transport, connection = await self.loop.create_connection(
                        lambda: _Connection(self, origin),
                        host,
                        port,
                        ssl=context,
                        server_hostname=host if context else None,
                    )
                finally:
                    self._opening -= 1
        except TimeoutError:
            self._wake_slot_waiter()
            raise httpx.ConnectTimeout("connect timed out") from None
        except OSError as exc:  # ssl.SSLError included
            self._wake_slot_waiter()
            raise httpx.ConnectError(str(exc) or "connection failed") from exc
        self._connections.add(connection)
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def release(self, connection: _Connection) -> None:
        """An answered connection, back to its origin's idle list (newest last: used first)."""
        connection.idle_since = self.loop.time()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._wake_slot_waiter()
        if self._sweep is None:
            self._sweep = self.loop.call_later(self._keepalive_expiry, self._close_expired)

    def forget(self, connection: _Connection) -> None:
        """A closed connection leaves the pool, and frees its slot."""
        self._connections.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)
        self._wake_slot_waiter()

    def _close_longest_idle(self) -> bool:
        """Close the idle connection that has waited longest (any origin); its slot is free at
        once. False when none is idle."""
        oldest: _Connection | None = None
        for idle in self._idle.values():
            if idle and (oldest is None or idle[0].idle_since < oldest.idle_since):
                oldest = idle[0]  # each list is oldest first
        if oldest is None:
            return False
        self._idle[oldest.origin].remove(oldest)
        self._connections.discard(oldest)
        oldest.close()
        return True

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_expired(self) -> None:
        self._sweep = None
        now = self.loop.time()
        for idle in self._idle.values():
            for connection in [c for c in idle if now - c.idle_since >= self._keepalive_expiry]:
                connection.close()
        if any(self._idle.values()):
            self._sweep = self.loop.call_later(self._keepalive_expiry, self._close_expired)
