"""Server-sent events in, OpenAI `chat.completion.chunk` dicts out: what every stream shares."""

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from llm.providers.contract import ProviderError, Usage
from llm.providers.openai_shapes import usage_to_openai


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
        if b"\r" not in buffer:  # LF only (OpenAI, Anthropic): one split, no search per line
            lines = buffer.split(b"\n")
            self._buffer = lines.pop()
            for line in lines:
                self._line(line.decode("utf-8", errors="replace"), events)
            return events
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


def sse_bytes(payload: dict[str, Any]) -> bytes:
    """One server-sent event carrying `payload` as compact JSON."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def estimate_tokens(chars: int) -> int:
    """A rough token count (4 characters a token) for output a cut-off stream never reported."""
    return (chars + 3) // 4


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


class BaseStreamParser:
    """SSE decoding, the role chunk, and usage bookkeeping shared by the three formats."""

    def __init__(self, *, model: str, request_id: str) -> None:
        self.factory = ChunkFactory(model=model, request_id=request_id, created=int(time.time()))
        self.finished = False
        self.usage_complete = False
        self.content_seen = False
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
        return dataclasses.replace(self._reported, output_tokens=estimate)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        for event, payload in self._decoder.feed(data):
            chunks.extend(self._on_event(event, payload))
        return chunks

    def relay(self, data: bytes) -> bytes:
        """The client's SSE bytes for `data`: the chunks `feed` returns, encoded. A format whose
        events mostly need no rewriting overrides it to skip the chunk dicts."""
        return b"".join(map(sse_bytes, self.feed(data)))

    def _load_event(self, data: str) -> dict[str, Any]:
        """One event's JSON object; anything else is a `malformed` failure carrying usage so far
        (the estimate is built only then: `usage` costs a dataclass copy)."""
        try:
            payload = orjson.loads(data)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ProviderError(
                "upstream sent a malformed stream event",
                kind="malformed",
                retryable=True,
                usage=self.usage,
            )
        return payload

    def _on_event(self, event: str | None, data: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _chunk(
        self, delta: dict[str, Any], *, finish_reason: str | None = None, index: int = 0
    ) -> dict[str, Any]:
        """A chunk whose first delta per choice carries the assistant role."""
        if not self.content_seen:
            self.content_seen = bool(finish_reason) or any(
                key != "role" and value not in (None, "", [], {}) for key, value in delta.items()
            )
        if index not in self._role_sent:
            self._role_sent.add(index)
            delta = {"role": "assistant", **delta}
        self._chars += len(delta.get("content") or "")
        for call in delta.get("tool_calls") or ():
            self._chars += len((call.get("function") or {}).get("arguments") or "")
        return self.factory.chunk(delta=delta, finish_reason=finish_reason, index=index)
