"""The gateway's answers in Anthropic's Messages shape: a chat.completion as a `message`, a
stream of chat.completion chunks as Anthropic's events, an error as `{"type": "error", ...}`.

When an Anthropic model served the request natively, its own answer rides along (NATIVE_KEY
on the completion, NATIVE_EVENT on each chunk) and is passed on as it came; otherwise the
OpenAI shape is translated: text and tool calls to content blocks, finish reasons to stop
reasons, usage to Anthropic's (input without the cache, cache reads and writes beside it).
"""

import json
from collections.abc import Mapping
from typing import Any

import orjson

NATIVE_KEY = "x_anthropic"  # on a chat.completion: the upstream's own message
NATIVE_EVENT = "x_anthropic_event"  # on a chunk: the upstream's own event

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error(*, status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """Anthropic's error shape; `code` is the contract's error code (e.g. `model_not_allowed`)
    beside Anthropic's type, which the SDK ignores and a client can still branch on."""
    error: dict[str, Any] = {"type": error_type(status), "message": message}
    if code:
        error["code"] = code
    return {"type": "error", "error": error}


def anthropic_usage(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """OpenAI usage (our shape: cache reads and writes inside prompt_tokens) as Anthropic's."""
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    return {
        "input_tokens": max(int(usage.get("prompt_tokens") or 0) - cached - written, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": int(usage.get("completion_tokens") or 0),
    }


def _tool_input(arguments: Any) -> Any:
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def completion_to_message(completion: Mapping[str, Any], *, request_id: str) -> dict[str, Any]:
    """A chat.completion as an Anthropic `message` (the native one when it came along)."""
    if isinstance(completion.get(NATIVE_KEY), dict):
        return completion[NATIVE_KEY]
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("reasoning_content"):  # another provider's thinking: no signature to give
        content.append(
            {"type": "thinking", "thinking": str(message["reasoning_content"]), "signature": ""}
        )
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{request_id[:24]}",
                "name": function.get("name", ""),
                "input": _tool_input(function.get("arguments")),
            }
        )
    return {
        "id": f"msg_{request_id}",
        "type": "message",
        "role": "assistant",
        "model": completion.get("model", ""),
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


def sse(event: str, payload: Mapping[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class EventWriter:
    """OpenAI chunks in (decoded SSE data, in order), Anthropic events out (bytes).

    One content block is open at a time: reasoning deltas go to a thinking block, text deltas
    to a text block, each tool call to a tool_use block of its own; the OpenAI stream's end
    (`[DONE]`) closes the last block and sends message_delta (stop reason, usage) and
    message_stop. Native events pass as they are, and then nothing is translated (the
    upstream's events are the whole answer)."""

    def __init__(self, *, request_id: str) -> None:
        self.request_id = request_id
        self.started = False
        self.native = False
        self.finished = False
        self.blocks = 0  # content blocks opened so far
        self.open: tuple[str, int] | None = None  # ("text", 0) or ("tool", OpenAI call index)
        self.stop_reason = "end_turn"
        self.usage: Mapping[str, Any] | None = None

    def chunk(self, chunk: Mapping[str, Any]) -> bytes:
        native = chunk.get(NATIVE_EVENT)
        if isinstance(native, dict):
            self.native = True
            self.finished = self.finished or native.get("type") == "message_stop"
            return sse(str(native.get("type")), native)
        if isinstance(chunk.get("error"), dict):
            return self.error(str(chunk["error"].get("message") or "upstream error"))
        if self.native:
            return b""
        out = [self._start(chunk)]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out.append(self._thinking(str(delta["reasoning_content"])))
            if delta.get("content"):
                out.append(self._text(delta["content"]))
            for call in delta.get("tool_calls") or ():
                out.append(self._tool(call))
            if choice.get("finish_reason"):
                self.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return b"".join(out)

    def done(self) -> bytes:
        """The OpenAI stream ended: close the message (a native stream closed itself)."""
        if self.native or self.finished:
            return b""
        self.finished = True
        out = [self._start({}), self._close()]
        usage = anthropic_usage(self.usage)
        out.append(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                    "usage": usage,
                },
            )
        )
        out.append(sse("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def error(self, message: str) -> bytes:
        self.finished = True
        return sse("error", anthropic_error(status=500, message=message))

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        if self.started:
            return b""
        self.started = True
        message = {
            "id": f"msg_{self.request_id}",
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model", ""),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return sse("message_start", {"type": "message_start", "message": message}) + sse(
            "ping", {"type": "ping"}
        )

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        index = self.blocks - 1
        return sse("content_block_stop", {"type": "content_block_stop", "index": index})

    def _open(self, slot: tuple[str, int], block: dict[str, Any]) -> bytes:
        closed = self._close()
        self.open = slot
        self.blocks += 1
        start = {"type": "content_block_start", "index": self.blocks - 1, "content_block": block}
        return closed + sse("content_block_start", start)

    def _text(self, text: str) -> bytes:
        out = (
            b""
            if self.open == ("text", 0)
            else self._open(("text", 0), {"type": "text", "text": ""})
        )
        delta = {"type": "text_delta", "text": text}
        return out + self._delta(delta)

    def _thinking(self, text: str) -> bytes:
        out = b""
        if self.open != ("thinking", 0):
            block = {"type": "thinking", "thinking": "", "signature": ""}
            out = self._open(("thinking", 0), block)
        return out + self._delta({"type": "thinking_delta", "thinking": text})

    def _tool(self, call: Mapping[str, Any]) -> bytes:
        slot = ("tool", int(call.get("index", 0)))
        function = call.get("function") or {}
        out = b""
        if self.open != slot:
            block = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{self.request_id[:16]}{slot[1]}",
                "name": function.get("name", ""),
                "input": {},
            }
            out = self._open(slot, block)
        if function.get("arguments"):
            out += self._delta({"type": "input_json_delta", "partial_json": function["arguments"]})
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        event = {"type": "content_block_delta", "index": self.blocks - 1, "delta": delta}
        return sse("content_block_delta", event)
