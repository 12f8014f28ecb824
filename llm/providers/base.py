"""The adapter contract: one pure module per wire format translates to and from OpenAI's shape.

Adapters do no I/O and know nothing of Django: the gateway builds an `UpstreamRequest`, sends it
with the one shared HTTP client, and hands status, headers and body back to the adapter.
"""

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import orjson


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # the part of input_tokens served from the provider's prompt cache


@dataclass(frozen=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    json: dict[str, Any]


@dataclass
class ChatResult:
    """A complete response, already in OpenAI Chat Completions shape (`body`)."""

    body: dict[str, Any]
    usage: Usage


class ProviderError(Exception):
    """An upstream failure, classified so the gateway can decide whether to fall back.

    kind: rate_limit | quota | timeout | connection | server | context_length | auth |
          bad_request | malformed. `quota`: the account behind the key is out of credit or quota
          (not a passing rate limit: the next model, never the same one).
    `retryable` means another attempt (same or next model) may succeed;
    `billed` means the provider charged for the attempt (usage known despite the failure).
    The message never contains a key.
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

    def feed(self, data: bytes) -> list[dict[str, Any]]: ...


class ProviderAdapter(Protocol):
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


@dataclass
class ChunkFactory:
    """Builds OpenAI stream chunks with one id and creation time for a whole stream."""

    model: str
    request_id: str
    created: int = field(default=0)

    def chunk(
        self, *, delta: dict[str, Any], finish_reason: str | None = None, index: int = 0
    ) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{self.request_id}",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
        }

    def usage_chunk(self, usage: Usage) -> dict[str, Any]:
        """The final chunk OpenAI sends under `stream_options.include_usage`: no choices."""
        return {
            "id": f"chatcmpl-{self.request_id}",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_to_openai(usage),
        }


# --- Shared helpers for the adapters (pure) -------------------------------------------------

AUTH_STYLES = ("bearer", "x_api_key", "x_goog_api_key", "api_key_header", "none")


def auth_headers(auth_style: str, api_key: str | None) -> dict[str, str]:
    """The one place an upstream key enters a header. No key (or style `none`): no header."""
    if auth_style not in AUTH_STYLES:
        raise ValueError(f"unknown auth_style {auth_style!r}")
    if not api_key or auth_style == "none":
        return {}
    if auth_style == "bearer":
        return {"Authorization": f"Bearer {api_key}"}
    if auth_style == "x_api_key":
        return {"x-api-key": api_key}
    if auth_style == "x_goog_api_key":
        return {"x-goog-api-key": api_key}
    return {"api-key": api_key}


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


_SECRET_PATTERNS = [
    # OpenAI / Anthropic / most OpenAI-compatible vendors, also partially masked echoes.
    (re.compile(r"\bsk-[A-Za-z0-9_\-*.]{3,}"), "sk-***"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-*.]{6,}"), "AIza***"),
    (re.compile(r"\btg_[A-Za-z0-9_\-]{8,}"), "tg_***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-.~+/=*]{8,}"), r"\1***"),
    (re.compile(r"(?i)([?&](?:key|api_key|api-key)=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"\b(?:gsk|xai|pplx|fw|csk)_[A-Za-z0-9_\-]{8,}"), "***"),
]
MAX_MESSAGE_CHARS = 500


def redact(text: str) -> str:
    """Strip anything that looks like a key: providers echo (partial) keys in error messages."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "..."
    return text


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup on any mapping (httpx.Headers or a plain dict)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date."""
    ms = header(headers, "retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = header(headers, "retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_json_body(body: bytes | str) -> dict[str, Any]:
    """Decode a 2xx body; anything but a JSON object is a `malformed` (retryable) failure."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        raise ProviderError(
            "upstream returned a malformed response body", kind="malformed", retryable=True
        )
    return payload


def classify_status(status: int) -> tuple[str, bool]:
    """(kind, retryable) from the HTTP status alone; adapters refine 400s from the body."""
    if status == 429:
        return "rate_limit", True
    if status == 408 or status >= 500:  # 529 is Anthropic's "overloaded"
        return "server", True
    if status in (401, 403):
        return "auth", True  # the gateway moves on to the next model, never the same key
    return "bad_request", False


def make_error(
    *,
    status: int,
    message: str | None,
    headers: Mapping[str, str],
    context_length: bool = False,
    auth: bool = False,
    quota: bool = False,
    retry_after: float | None = None,
) -> ProviderError:
    kind, retryable = classify_status(status)
    if context_length and status < 500:
        kind, retryable = "context_length", True
    elif auth and status < 500:
        kind, retryable = "auth", True
    elif quota and status < 500:
        kind, retryable = "quota", True
    text = redact(f"upstream HTTP {status}: {message}" if message else f"upstream HTTP {status}")
    if retry_after is None:
        retry_after = parse_retry_after(headers)
    return ProviderError(
        text, status=status, kind=kind, retryable=retryable, retry_after=retry_after
    )


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:image/png;base64,....` -> (media type, base64 data); None for other URLs."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or ";base64" not in head:
        raise ProviderError(
            "image data URLs must be base64 encoded", kind="bad_request", retryable=False
        )
    media_type = head.split(";", 1)[0] or "application/octet-stream"
    return media_type, data


def text_of(content: Any) -> str:
    """The text of an OpenAI message `content` (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return str(content)


def unsupported(message: str) -> ProviderError:
    """The request cannot be expressed in this wire format (the client must change it)."""
    return ProviderError(message, kind="bad_request", retryable=False)


class SSEDecoder:
    """Incremental server-sent-events decoder: bytes in any split -> (event, data) pairs.

    Lines end in CRLF, LF or CR (Gemini uses CRLF); comments (`:`) and `id`/`retry` are ignored;
    multiple `data:` lines of one event are joined with newlines.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[tuple[str | None, str]]:
        buffer = self._buffer + data
        events: list[tuple[str | None, str]] = []
        start, size = 0, len(buffer)
        while True:
            newline = buffer.find(b"\n", start)
            carriage = buffer.find(b"\r", start, size if newline == -1 else newline)
            if carriage != -1:  # a line ending in \r or \r\n
                if carriage + 1 == size:
                    break  # wait for the next byte: it may be the \n of \r\n
                end, start_next = carriage, carriage + (2 if buffer[carriage + 1] == 0x0A else 1)
            elif newline != -1:
                end, start_next = newline, newline + 1
            else:
                break
            self._line(buffer[start:end].decode("utf-8", errors="replace"), events)
            start = start_next
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str, events: list[tuple[str | None, str]]) -> None:
        if line == "":
            if self._data:
                events.append((self._event, "\n".join(self._data)))
            self._event, self._data = None, []
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value


def load_event_json(data: str, usage: Usage) -> dict[str, Any]:
    try:
        payload = orjson.loads(data)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise ProviderError(
            "upstream sent a malformed stream event", kind="malformed", retryable=True, usage=usage
        )
    return payload


def estimate_tokens(chars: int) -> int:
    """A rough token count (4 characters a token) for output a cut-off stream never reported."""
    return (chars + 3) // 4


class BaseStreamParser:
    """SSE decoding, the role chunk, and usage bookkeeping shared by the three formats."""

    def __init__(self, *, model: str, request_id: str) -> None:
        self.factory = ChunkFactory(model=model, request_id=request_id, created=int(time.time()))
        self.finished = False
        self.usage_complete = False
        self._reported = Usage()
        self._decoder = SSEDecoder()
        self._role_sent: set[int] = set()
        self._chars = 0

    @property
    def usage(self) -> Usage:
        if self.usage_complete:
            return self._reported
        estimate = estimate_tokens(self._chars)
        if estimate <= self._reported.output_tokens:
            return self._reported
        return Usage(
            input_tokens=self._reported.input_tokens,
            output_tokens=estimate,
            cached_tokens=self._reported.cached_tokens,
        )

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        for event, payload in self._decoder.feed(data):
            chunks.extend(self._on_event(event, payload))
        return chunks

    def _on_event(self, event: str | None, data: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _chunk(
        self, delta: dict[str, Any], *, finish_reason: str | None = None, index: int = 0
    ) -> dict[str, Any]:
        """A chunk whose first delta per choice carries the assistant role."""
        if index not in self._role_sent:
            self._role_sent.add(index)
            delta = {"role": "assistant", **delta}
        self._chars += len(delta.get("content") or "")
        for call in delta.get("tool_calls") or ():
            self._chars += len((call.get("function") or {}).get("arguments") or "")
        return self.factory.chunk(delta=delta, finish_reason=finish_reason, index=index)


def tool_arguments_object(arguments: Any) -> dict[str, Any]:
    """OpenAI tool-call arguments (a JSON string) as the object Anthropic and Gemini expect."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        parsed = json.loads(arguments)
    except ValueError:
        raise unsupported("tool call arguments must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise unsupported("tool call arguments must be a JSON object")
    return parsed
