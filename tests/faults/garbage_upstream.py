"""An upstream that answers with exactly the bytes a test scripts: bodies that are not JSON,
wrong content types, HTML error pages, SSE streams cut mid-event or mid-JSON or without their
`[DONE]`. Real HTTP on 127.0.0.1 (one thread per connection); the mock upstreams of
tests/support speak the wire formats correctly, this one speaks them wrongly on purpose."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Reply = Callable[[socket.socket], None]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def plain(status: int, content_type: str, body: bytes | str) -> Reply:
    """A whole response with a Content-Length (then the connection closes)."""
    payload = body.encode() if isinstance(body, str) else body

    def reply(conn: socket.socket) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        conn.sendall(head.encode() + payload)

    return reply


def stream(
    frames: list[bytes], *, end: bool = True, delay: float = 0.0, content_type: str = ""
) -> Reply:
    """A chunked SSE body of `frames`; `end=False` cuts the connection after the last frame
    (no chunked terminator), as when an upstream dies mid-stream."""

    def reply(conn: socket.socket) -> None:
        head = (
            "HTTP/1.1 200 OK\r\n"
            f"Content-Type: {content_type or 'text/event-stream'}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        conn.sendall(head.encode())
        for number, frame in enumerate(frames):
            if delay and number:
                time.sleep(delay)
            conn.sendall(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
        if end:
            conn.sendall(b"0\r\n\r\n")
        conn.shutdown(socket.SHUT_RDWR)

    return reply


def chunk(content: str | None = None, *, finish: str | None = None, role: bool = False) -> bytes:
    """One OpenAI `chat.completion.chunk` SSE event."""
    delta: dict = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    body = {
        "id": "chatcmpl-garbage",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def usage_chunk(prompt: int, completion: int) -> bytes:
    body = {
        "id": "chatcmpl-garbage",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


@dataclass
class GarbageUpstream:
    """Plays the scripted replies in order (then 500s); counts the requests it got."""

    replies: list[Reply] = field(default_factory=list)
    requests: int = 0
    base_url: str = ""
    _server: socket.socket | None = None

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def start(self) -> GarbageUpstream:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None

    def _accept(self) -> None:
        while self._server is not None:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            _read_request(conn)
            self.requests += 1
            reply = self.replies.pop(0) if self.replies else plain(500, "text/plain", "no more")
            reply(conn)
