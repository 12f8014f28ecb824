"""The mock upstream server: real HTTP on 127.0.0.1 (HTTP/1.1, keep-alive, chunked SSE) in its
own thread, playing the scripted behaviours in order through one `Wire`.

Tests queue behaviours with `script(...)`; with nothing queued a request gets `Ok()`. Every
request is recorded (method, path, query, lower-case headers, JSON body) so tests can assert
what the gateway sent, including which key and that nothing from the client leaked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.mock_upstreams.anthropic_wire import AnthropicWire
from tests.support.mock_upstreams.behaviours import (
    AuthError,
    Behaviour,
    ContextLengthExceeded,
    EchoKey,
    Malformed,
    NotFound,
    Ok,
    OutOfCredit,
    RateLimited,
    RecordedRequest,
    ServerError,
    Slow,
    TruncatedStream,
)
from tests.support.mock_upstreams.gemini_wire import GeminiWire
from tests.support.mock_upstreams.openai_wire import OpenAIWire
from tests.support.mock_upstreams.wire import Reply, Wire

WIRES: dict[str, type[Wire]] = {
    "openai_chat": OpenAIWire,
    "anthropic_messages": AnthropicWire,
    "gemini": GeminiWire,
}
WIRE_FORMATS = tuple(WIRES)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the MockUpstream that owns the server; tracks open connections."""

    protocol_version = "HTTP/1.1"
    server_version = "mock-upstream/1"
    timeout = 30  # idle keep-alive connections close after this

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.mock._connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.mock._connections.discard(self.connection)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        self.server.mock._handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST


class MockUpstream:
    """A real HTTP server on 127.0.0.1 speaking one wire format (JSON + SSE streaming)."""

    def __init__(self, wire_format: str):
        if wire_format not in WIRE_FORMATS:
            raise ValueError(f"unknown wire format {wire_format!r}")
        self.wire_format = wire_format
        self._wire: Wire = WIRES[wire_format]()
        self.requests: list[RecordedRequest] = []
        self.vectors: dict[str, list[float]] = {}  # embeddings: input text -> vector (tests set)
        self._queue: list[Behaviour] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # lifecycle
    def start(self) -> MockUpstream:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False
        server.mock = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"mock-{self.wire_format}",
            daemon=True,
        )
        self._thread.start()
        port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}{self._wire.prefix}"
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._server = None

    def __enter__(self) -> MockUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # scripting
    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.vectors.clear()

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def _next(self) -> Behaviour:
        with self._lock:
            return self._queue.pop(0) if self._queue else Ok()

    # request handling
    def _handle(self, handler: _Handler) -> None:
        try:
            self._serve(handler)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            handler.close_connection = True

    def _serve(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        request = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={key.lower(): value for key, value in handler.headers.items()},
            json=payload,
            body=raw,
        )
        with self._lock:
            self.requests.append(request)
        wire = self._wire
        route = wire.route(request.method, request.path)
        if route is None:
            return self._send(handler, wire.not_found())
        if route == "models":
            return self._send(handler, wire.models())
        if route == "count_tokens":  # Anthropic only: Ok -> its input_tokens, else an error
            return self._send(handler, wire.count_tokens(self._next(), request))
        problem = (
            wire.validate_embeddings(request) if route == "embeddings" else wire.validate(request)
        )
        if route == "responses":  # OpenAI only: the Responses API beside chat completions
            problem = wire.validate_responses(request)
        if problem:
            return self._send(handler, wire.bad_request(problem))
        behaviour = self._next()
        if isinstance(behaviour, Slow):
            time.sleep(behaviour.delay)
            behaviour = Ok()
        if isinstance(behaviour, Ok) and behaviour.delay:
            time.sleep(behaviour.delay)
        if isinstance(behaviour, RateLimited):
            return self._send(handler, wire.rate_limited(behaviour.retry_after))
        if isinstance(behaviour, ServerError):
            return self._send(handler, wire.server_error(behaviour.status))
        if isinstance(behaviour, ContextLengthExceeded):
            return self._send(handler, wire.context_length())
        if isinstance(behaviour, AuthError):
            return self._send(handler, wire.auth_error(behaviour.status, request))
        if isinstance(behaviour, OutOfCredit):
            return self._send(handler, wire.out_of_credit())
        if isinstance(behaviour, NotFound):
            return self._send(handler, wire.not_found())
        if isinstance(behaviour, EchoKey) and behaviour.mid_stream and request.stream:
            frames, start = wire.stream(Ok(), request)
            error = wire.stream_error(f"internal error for key {request.api_key}")
            frames = [*frames[: start + 2], error]  # apart: the error comes after content
            return self._stream(handler, frames, complete=True, delay=0.05)
        if isinstance(behaviour, EchoKey):
            reply = wire.key_echo(behaviour.status, request.api_key)
            reply.headers["X-Echo-Key"] = request.api_key
            return self._send(handler, reply)
        if isinstance(behaviour, Malformed):
            if request.stream:
                return self._stream(handler, wire.malformed_stream(request), complete=True)
            return self._send(handler, Reply(200, wire.malformed()))
        if isinstance(behaviour, TruncatedStream):
            if request.stream:
                streamer = wire.responses_stream if route == "responses" else wire.stream
                frames, start = streamer(behaviour, request)
                return self._stream(
                    handler, frames[: start + behaviour.after_chunks], complete=False
                )
            reply = wire.ok(Ok(content=behaviour.content), request)
            return self._send(handler, reply, truncate=True)
        assert isinstance(behaviour, Ok)
        if route == "embeddings":
            if behaviour.vectors is None and self.vectors:
                behaviour = dataclasses.replace(behaviour, vectors=dict(self.vectors))
            return self._send(handler, wire.embeddings(behaviour, request))
        if route == "responses" and request.stream:
            frames, _ = wire.responses_stream(behaviour, request)
            return self._stream(handler, frames, complete=True, delay=behaviour.chunk_delay)
        if route == "responses":
            return self._send(handler, wire.responses(behaviour, request))
        if request.stream:
            frames, _ = wire.stream(behaviour, request)
            return self._stream(handler, frames, complete=True, delay=behaviour.chunk_delay)
        return self._send(handler, wire.ok(behaviour, request))

    @staticmethod
    def _send(handler: _Handler, reply: Reply, *, truncate: bool = False) -> None:
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if truncate:
            handler.wfile.write(reply.body[: len(reply.body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.wfile.write(reply.body)

    @staticmethod
    def _stream(
        handler: _Handler, frames: list[bytes], *, complete: bool, delay: float = 0.0
    ) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for number, frame in enumerate(frames):
            if delay and number:
                time.sleep(delay)
            handler.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            handler.wfile.flush()
        if complete:
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        else:
            # Cut the connection without the chunked terminator: the client sees a body that
            # ends mid-way, as when an upstream dies.
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
