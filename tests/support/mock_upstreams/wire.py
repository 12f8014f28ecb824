"""The one interface the mock server drives a wire format through, and the reply it returns.

The server owns HTTP (routing to a handler, chunked streams, cut connections); a `Wire` owns
only what its provider puts on the wire, so each format is one class beside the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.support.mock_upstreams.behaviours import Ok, RecordedRequest, TruncatedStream


@dataclass
class Reply:
    """An HTTP answer: status, body, extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers or {})


class Wire(Protocol):
    """One provider's wire format: its routes, its request checks and each reply it sends."""

    name: str
    prefix: str  # path prefix of the base URL the gateway is given

    def route(self, method: str, path: str) -> str | None:
        """Which handler serves this request line: "chat", "embeddings", "models", or None for
        a 404."""
        ...

    def validate(self, request: RecordedRequest) -> str | None:
        """Why the provider would refuse this request, or None."""
        ...

    def validate_embeddings(self, request: RecordedRequest) -> str | None:
        """Why the provider would refuse this embeddings request, or None."""
        ...

    def embeddings(self, ok: Ok, request: RecordedRequest) -> Reply:
        """Deterministic vectors (content.embedding_vector), one per input."""
        ...

    def bad_request(self, message: str) -> Reply: ...

    def not_found(self) -> Reply: ...

    def models(self) -> Reply: ...

    def ok(self, ok: Ok, request: RecordedRequest) -> Reply: ...

    def stream(self, ok: Ok | TruncatedStream, request: RecordedRequest) -> tuple[list[bytes], int]:
        """(frames, index of the first content frame)."""
        ...

    def malformed(self) -> bytes: ...

    def malformed_stream(self, request: RecordedRequest) -> list[bytes]: ...

    def rate_limited(self, retry_after: float | None) -> Reply: ...

    def server_error(self, status: int) -> Reply: ...

    def context_length(self) -> Reply: ...

    def auth_error(self, status: int, request: RecordedRequest) -> Reply: ...

    def out_of_credit(self) -> Reply: ...

    def key_echo(self, status: int, key: str) -> Reply:
        """An error in the format's shape whose message quotes `key` in full."""
        ...

    def stream_error(self, message: str) -> bytes:
        """The format's error event in the middle of a stream."""
        ...
