"""The adapter contract: one pure module per wire format translates to and from OpenAI's shape.

Adapters do no I/O and know nothing of Django: the gateway builds an `UpstreamRequest`, sends it
with the one shared HTTP client, and hands status, headers and body back to the adapter.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.redaction import redact


@dataclass(frozen=True)
class Usage:
    """Token counts of one upstream call, as billing meters them whatever the wire format.

    Each adapter normalises its provider's report to these classes: `input_tokens` counts every
    prompt token (uncached, cache reads and cache writes), `output_tokens` every generated token
    (reasoning included); the other counts are parts of those two, each priced on its own.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # part of input_tokens: read from the provider's prompt cache
    cache_write_tokens: int = 0  # part of input_tokens: written to the cache (5 min and 1 h)
    cache_write_1h_tokens: int = 0  # part of cache_write_tokens: written for one hour
    reasoning_tokens: int = 0  # part of output_tokens: thinking the client does not see

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class UpstreamRequest:
    """What an adapter builds and the gateway sends: adapters never do I/O themselves."""

    method: str
    url: str
    headers: dict[str, str]
    json: dict[str, Any]
    # The URL may be a tenant's: connect only to public addresses (llm/providers/upstream_guard.py).
    # The gateway clears it for the operator's own base URLs; anything else stays guarded.
    guarded: bool = True


@dataclass
class ChatResult:
    """A complete response, already in OpenAI Chat Completions shape (`body`)."""

    body: dict[str, Any]
    usage: Usage


@dataclass
class EmbeddingResult:
    """An embeddings answer: one float vector per input, in input order. `usage.input_tokens`
    is 0 when the provider reports no count (Gemini): the gateway bills its estimate."""

    vectors: list[list[float]]
    usage: Usage


class ProviderError(Exception):
    """An upstream failure, classified so the gateway can decide whether to fall back.

    kind: rate_limit | quota | timeout | connection | server | context_length | auth |
          bad_request | malformed. `quota`: the account behind the key is out of credit or quota
          (not a passing rate limit: the next model, never the same one).
    `retryable` means another attempt (same or next model) may succeed;
    `billed` means the provider charged for the attempt (usage known despite the failure).
    The message never contains a key: anything shaped like one is masked here (core/redaction.py);
    the gateway also masks the very key the call was made with (gateway/services/upstream_keys.py).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        kind: str = "server",
        retryable: bool = False,
        retry_after: float | None = None,
        usage: Usage | None = None,
    ):
        message = redact(message)  # whatever an upstream or a transport error said
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.usage = usage


class StreamParser(Protocol):
    """Turns upstream stream bytes into OpenAI `chat.completion.chunk` dicts.

    `feed` takes raw bytes in any split and returns the chunks completed so far; `usage` holds
    the usage seen so far (also after a truncated stream); `finished` is true once the upstream
    signalled the end of the message. `usage_complete` is true once the provider reported its
    final usage; until then `usage.output_tokens` is at least an estimate of the text streamed so
    far (4 characters a token), so a cut-off stream is still billed for what was generated.
    An error event raises ProviderError (with `usage` so far); so does a malformed event.
    """

    usage: Usage
    finished: bool
    usage_complete: bool
    content_seen: bool  # a chunk so far had content or a finish reason (not just the role)

    def feed(self, data: bytes) -> list[dict[str, Any]]: ...

    def relay(self, data: bytes) -> bytes:
        """What `feed` returns, as the client's SSE bytes (`data: {json}` per chunk)."""


class ProviderAdapter(Protocol):
    """One wire format: builds its requests and reads its responses, streams and errors."""

    wire_format: str

    def build_request(
        self,
        *,
        body: Mapping[str, Any],
        model_id: str,
        base_url: str,
        api_key: str | None,
        auth_style: str,
        stream: bool,
    ) -> UpstreamRequest:
        """`body` is the client's OpenAI request (model already resolved to `model_id`).

        Only known fields are translated; nothing in `body` reaches the URL or the headers.
        Raises ProviderError(kind="bad_request", retryable=False) for a request this wire
        format cannot express (n > 1, audio parts, tool arguments that are not a JSON object).
        """

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> ChatResult:
        """A 2xx JSON body to an OpenAI chat.completion; `model` is the id to report."""

    def stream_parser(self, *, model: str, request_id: str) -> StreamParser: ...

    def map_error(
        self, *, status: int, body: bytes, headers: Mapping[str, str]
    ) -> ProviderError: ...


class EmbeddingAdapter(Protocol):
    """One wire format's embeddings endpoint; errors read as its chat adapter reads them."""

    wire_format: str
    token_input: bool  # accepts input given as token arrays

    def build_request(
        self,
        *,
        inputs: list[str] | list[list[int]],
        model_id: str,
        base_url: str,
        api_key: str | None,
        auth_style: str,
        dimensions: int | None,
        user: str | None,
    ) -> UpstreamRequest: ...

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> EmbeddingResult: ...

    def map_error(
        self, *, status: int, body: bytes, headers: Mapping[str, str]
    ) -> ProviderError: ...
