"""What a test can script a mock upstream to do, and what the mock records of each request.

The behaviours are format-neutral: each wire module turns one into its provider's own reply.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ok:
    """A successful answer, plain or streamed (whichever the request asked for)."""

    content: str = "Hello from mock"
    input_tokens: int = 12  # all prompt tokens, cache reads and writes included
    output_tokens: int = 5  # all output tokens, reasoning included
    cached_tokens: int = 0  # cache reads
    tool_call: dict | None = None  # {"name": ..., "arguments": dict | str, "id": optional}
    delay: float = 0.0  # before the response starts
    chunk_delay: float = 0.0  # between stream frames
    cache_write_tokens: int = 0  # cache writes (Anthropic), 5-minute and 1-hour together
    cache_write_1h_tokens: int = 0  # the 1-hour part of cache_write_tokens
    reasoning_tokens: int = 0  # thinking (OpenAI reasoning_tokens, Gemini thoughtsTokenCount)
    thinking: str = ""  # thinking shown (Anthropic thinking block, Gemini thought summary part)
    vectors: dict[str, list[float]] | None = None  # embeddings: input text -> vector returned


@dataclass
class RateLimited:
    retry_after: float | None = 1


@dataclass
class ServerError:
    status: int = 500


@dataclass
class Slow:
    delay: float


@dataclass
class Malformed:
    """200 with a body that is not valid JSON (plain) or an event that is not (stream)."""


@dataclass
class TruncatedStream:
    """The connection closes mid-way with no end event (and no final chunk of the chunked body).

    The preamble (role chunk / message_start + content_block_start) and `after_chunks` content
    deltas are sent first, with whatever usage the format reports that early.
    """

    after_chunks: int = 2
    content: str = "This answer is cut off before it ends"
    input_tokens: int = 12
    output_tokens: int = 9
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass
class ContextLengthExceeded:
    pass


@dataclass
class AuthError:
    status: int = 401


@dataclass
class OutOfCredit:
    """The account behind the key has no credit or quota left (each format's own reply)."""


@dataclass
class EchoKey:
    """A careless upstream (or a proxy in front of one): an error whose body quotes the
    request's key in full, and a header that carries it back. The gateway must redact it.
    `mid_stream`: a streamed request gets a few content frames first, then an error event that
    quotes the key (after the first byte reached the client)."""

    status: int = 401
    mid_stream: bool = False


@dataclass
class NotFound:
    """404: the model (or the path under a BYOK base URL) does not exist there."""


Behaviour = (
    Ok
    | RateLimited
    | ServerError
    | Slow
    | Malformed
    | TruncatedStream
    | ContextLengthExceeded
    | AuthError
    | OutOfCredit
    | EchoKey
    | NotFound
)


@dataclass
class RecordedRequest:
    """One request as the mock received it (Gemini echoes `response_id` back)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes = field(repr=False, default=b"")
    response_id: str = field(repr=False, default_factory=lambda: uuid.uuid4().hex[:22])

    @property
    def api_key(self) -> str:
        """The key the request carried, wherever it was put (header of any style, or query)."""
        bearer = self.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            return bearer[7:].strip()
        return (
            self.headers.get("x-api-key")
            or self.headers.get("x-goog-api-key")
            or self.query.get("key")
            or ""
        )

    @property
    def stream(self) -> bool:
        if ":streamGenerateContent" in self.path:
            return True
        return isinstance(self.json, dict) and self.json.get("stream") is True
