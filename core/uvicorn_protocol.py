"""uvicorn's httptools protocol with a response's head and its first body bytes in one write.

uvicorn writes a response's status line and headers when `http.response.start` arrives and its
body when `http.response.body` does: two `send` system calls for every plain answer. Here the
connection's transport holds a response head (a write that starts with the status line) until
the next write, which takes it along, or until the end of the loop turn it was written in
(`loop.call_soon`), whichever comes first. A plain answer's head and body leave together (2-5 us
less CPU per answer, bench/README.md, "One write per answer"); every other write goes straight
to the socket as before, so a stream's chunks pay nothing extra. Order is kept, and nothing
waits past its turn.

Served with `uvicorn --http core.uvicorn_protocol:JoinedHeadHttpToolsProtocol`.
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_RESPONSE_HEAD = b"HTTP/1."


class HeadHoldingTransport:
    """A transport that holds a response head for the next write of the same turn. Everything
    but writing and closing is the wrapped transport's own."""

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, *, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data.startswith(_RESPONSE_HEAD):
            self._head = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, list_of_data) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():  # the peer may have gone
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._head = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        held = len(self._head) if self._head is not None else 0
        return self._transport.get_write_buffer_size() + held

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class JoinedHeadHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadHoldingTransport(transport=transport, loop=self.loop))


# What `uvicorn --http` takes to serve with it (bin/serve, the Dockerfile, the tests' servers).
HTTP_PROTOCOL = f"{__name__}:{JoinedHeadHttpToolsProtocol.__name__}"
