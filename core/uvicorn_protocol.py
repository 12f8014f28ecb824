"""uvicorn's httptools protocol with one socket write per loop turn.

uvicorn writes a response's status line and headers when `http.response.start` arrives and its
body when `http.response.body` does: two `send` system calls for every plain answer, which were
the largest single item of a gateway worker's CPU profile (bench/README.md, "One write per
response"). Here the connection's transport keeps what is written during one turn of the event
loop and hands it to the socket in one write at the end of that turn (`loop.call_soon`): a plain
answer's headers and body leave together, and stream chunks written in one turn share a write.
Nothing waits longer than the turn it was written in, and order is kept.

Served with `uvicorn --http core.uvicorn_protocol:TurnBufferedHttpToolsProtocol`.
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class TurnBufferedTransport:
    """A transport whose writes of one loop turn reach the wrapped transport as one write.
    Everything but writing and closing is the wrapped transport's own."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, *, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, list_of_data) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if not self._transport.is_closing():  # the peer went away during the turn
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class TurnBufferedHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(TurnBufferedTransport(transport=transport, loop=self.loop))


# What `uvicorn --http` takes to serve with it (bin/serve, the Dockerfile, the tests' servers).
HTTP_PROTOCOL = f"{__name__}:{TurnBufferedHttpToolsProtocol.__name__}"
