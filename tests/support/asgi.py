"""A raw ASGI client: one request into an ASGI app, headers as bytes exactly as sent.

HTTP clients refuse (or re-encode) what an attacker's client would send as is: a 1 MB header,
raw UTF-8 bytes in a header value. An ASGI server hands the app those bytes untouched, so tests
of what the app does with them call it the way the server does.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass
class AsgiResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin1")
        return None

    def json(self):
        return orjson.loads(self.body)


async def asgi_request(
    app,
    method: str,
    url: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
) -> AsgiResponse:
    """Send one request (Host: localhost unless given) and collect the whole response."""
    parts = urlsplit(url)
    raw_headers = list(headers)
    if not any(name.lower() == b"host" for name, _ in raw_headers):
        raw_headers.append((b"host", b"localhost"))
    if body:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    sent = False
    done = asyncio.Event()  # the client stays connected until the whole response is in
    start: dict = {}
    chunks: list[bytes] = []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    return AsgiResponse(
        status=start["status"], headers=list(start.get("headers", [])), body=b"".join(chunks)
    )
