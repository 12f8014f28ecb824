"""Mock upstream LLM servers: real HTTP on 127.0.0.1 speaking one wire format exactly.

Each `MockUpstream` runs a ThreadingHTTPServer (HTTP/1.1, keep-alive, chunked SSE) in its own
thread. Tests queue behaviours with `script(...)`; with nothing queued a request gets `Ok()`.
Every request is recorded (method, path, query, lower-case headers, JSON body) so tests can
assert what the gateway sent, including which key and that nothing from the client leaked.

Streams follow each provider's published event sequence:
- openai_chat: `data: {chunk}` frames, a final usage chunk (empty choices) only when the request
  sent `stream_options.include_usage`, then `data: [DONE]`.
- anthropic_messages: message_start (input usage), content_block_start, ping,
  content_block_delta..., content_block_stop, message_delta (stop_reason, output usage),
  message_stop.
- gemini: `data: {GenerateContentResponse}` frames with CRLF line ends, cumulative usageMetadata
  on every frame, finishReason on the last; no end marker.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

WIRE_FORMATS = ("openai_chat", "anthropic_messages", "gemini")

# Request fields each API accepts; like the real APIs, the mocks refuse anything else, so a
# gateway that forwards a client's stray field (or our own routing hints) fails loudly.
OPENAI_FIELDS = {
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "stop",
    "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias",
    "logprobs", "top_logprobs", "user", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "seed", "service_tier", "store", "metadata", "reasoning_effort",
    "verbosity", "modalities", "audio", "prediction", "web_search_options", "functions",
    "function_call", "safety_identifier", "prompt_cache_key",
}  # fmt: skip
ANTHROPIC_FIELDS = {
    "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k",
    "stop_sequences", "stream", "tools", "tool_choice", "metadata", "thinking", "output_config",
    "output_format", "service_tier", "container", "mcp_servers", "context_management",
}  # fmt: skip
GEMINI_FIELDS = {
    "contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config",
    "safetySettings", "safety_settings", "generationConfig", "generation_config",
    "cachedContent", "cached_content",
}  # fmt: skip


# --- Behaviours ---------------------------------------------------------------------------


@dataclass
class Ok:
    """A successful answer, plain or streamed (whichever the request asked for)."""

    content: str = "Hello from mock"
    input_tokens: int = 12  # all prompt tokens, cached ones included
    output_tokens: int = 5
    cached_tokens: int = 0
    tool_call: dict | None = None  # {"name": ..., "arguments": dict | str, "id": optional}
    delay: float = 0.0  # before the response starts
    chunk_delay: float = 0.0  # between stream frames


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


@dataclass
class ContextLengthExceeded:
    pass


@dataclass
class AuthError:
    status: int = 401


@dataclass
class OutOfCredit:
    """The account behind the key has no credit or quota left (each format's own reply)."""


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
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes = field(repr=False, default=b"")
    response_id: str = field(repr=False, default_factory=lambda: uuid.uuid4().hex[:22])

    @property
    def stream(self) -> bool:
        if ":streamGenerateContent" in self.path:
            return True
        return isinstance(self.json, dict) and self.json.get("stream") is True


# --- Wire helpers ---------------------------------------------------------------------------


def _pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or [text]


def _arguments_text(tool_call: dict) -> str:
    arguments = tool_call.get("arguments", {})
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _split(text: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _masked(key: str) -> str:
    return key[:8] + "*" * 20 + key[-4:] if len(key) > 12 else "****"


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def _json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), headers or {})


class _OpenAIWire:
    name = "openai_chat"
    prefix = "/v1"

    def route(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/v1/chat/completions":
            return "chat"
        if method == "GET" and path == "/v1/models":
            return "models"
        return None

    def validate(self, request: RecordedRequest) -> str | None:
        body = request.json
        if not isinstance(body, dict):
            return "We could not parse the JSON body of your request."
        unknown = sorted(set(body) - OPENAI_FIELDS)
        if unknown:
            return f"Unrecognized request argument supplied: {unknown[0]}"
        if not body.get("model"):
            return "you must provide a model parameter"
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return "Missing required parameter: 'messages'."
        return None

    def model_of(self, request: RecordedRequest) -> str:
        return str((request.json or {}).get("model", "mock-model"))

    def error(self, status: int, message: str, err_type: str, code: str | None) -> _Reply:
        return _json_reply(
            status, {"error": {"message": message, "type": err_type, "param": None, "code": code}}
        )

    def rate_limited(self, retry_after: float | None) -> _Reply:
        reply = self.error(
            429,
            "Rate limit reached for requests. Please try again in 1s.",
            "requests",
            "rate_limit_exceeded",
        )
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
            reply.headers["retry-after-ms"] = str(int(retry_after * 1000))
        return reply

    def server_error(self, status: int) -> _Reply:
        return self.error(
            status, "The server had an error while processing your request.", "server_error", None
        )

    def context_length(self) -> _Reply:
        return _json_reply(
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens. However, "
                    "your messages resulted in 130512 tokens. Please reduce the length of the "
                    "messages.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
        )

    def auth_error(self, status: int, request: RecordedRequest) -> _Reply:
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        message = (
            f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
            if key
            else "You didn't provide an API key."
        )
        return self.error(status, message, "invalid_request_error", "invalid_api_key")

    def out_of_credit(self) -> _Reply:
        return self.error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )

    def not_found(self) -> _Reply:
        return self.error(404, "Invalid URL", "invalid_request_error", None)

    def models(self) -> _Reply:
        return _json_reply(
            200,
            {
                "object": "list",
                "data": [
                    {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "mock"}
                ],
            },
        )

    @staticmethod
    def _usage(ok: Ok | TruncatedStream) -> dict[str, Any]:
        return {
            "prompt_tokens": ok.input_tokens,
            "completion_tokens": ok.output_tokens,
            "total_tokens": ok.input_tokens + ok.output_tokens,
            "prompt_tokens_details": {"cached_tokens": ok.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def ok(self, ok: Ok, request: RecordedRequest) -> _Reply:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": ok.content,
            "refusal": None,
            "annotations": [],
        }
        finish = "stop"
        if ok.tool_call:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": ok.tool_call.get("id", "call_mock0001"),
                    "type": "function",
                    "function": {
                        "name": ok.tool_call["name"],
                        "arguments": _arguments_text(ok.tool_call),
                    },
                }
            ]
            finish = "tool_calls"
        return _json_reply(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:20]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model_of(request),
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": self._usage(ok),
                "service_tier": "default",
                "system_fingerprint": "fp_mock",
            },
            {"x-request-id": f"req_{uuid.uuid4().hex[:16]}"},
        )

    def malformed(self) -> bytes:
        return b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0,'

    def stream(self, ok: Ok | TruncatedStream, request: RecordedRequest) -> tuple[list[bytes], int]:
        """(frames, index of the first content frame)."""
        chunk_id = f"chatcmpl-{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        include_usage = bool(
            ((request.json or {}).get("stream_options") or {}).get("include_usage")
        )
        model = self.model_of(request)

        def frame(delta: dict, finish: str | None = None) -> bytes:
            chunk: dict[str, Any] = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                chunk["usage"] = None
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        tool_call = getattr(ok, "tool_call", None)
        if tool_call:
            first = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": tool_call.get("id", "call_mock0001"),
                        "type": "function",
                        "function": {"name": tool_call["name"], "arguments": ""},
                    }
                ],
            }
            frames = [frame(first)]
            frames += [
                frame({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
                for part in _split(_arguments_text(tool_call))
            ]
            finish = "tool_calls"
        else:
            frames = [frame({"role": "assistant", "content": "", "refusal": None})]
            frames += [frame({"content": piece}) for piece in _pieces(ok.content)]
            finish = "stop"
        frames.append(frame({}, finish))
        if include_usage:
            usage_chunk = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [],
                "usage": self._usage(ok),
            }
            frames.append(b"data: " + json.dumps(usage_chunk).encode() + b"\n\n")
        frames.append(b"data: [DONE]\n\n")
        return frames, 1

    def malformed_stream(self, request: RecordedRequest) -> list[bytes]:
        frames, _ = self.stream(Ok(), request)
        return [frames[0], b"data: {not json at all\n\n", b"data: [DONE]\n\n"]


class _AnthropicWire:
    name = "anthropic_messages"
    prefix = ""

    def route(self, method: str, path: str) -> str | None:
        return "chat" if method == "POST" and path == "/v1/messages" else None

    def validate(self, request: RecordedRequest) -> str | None:
        body = request.json
        if not isinstance(body, dict):
            return "There was an issue with the format of your request body"
        if request.headers.get("anthropic-version") is None:
            return "anthropic-version: header is required"
        unknown = sorted(set(body) - ANTHROPIC_FIELDS)
        if unknown:
            return f"{unknown[0]}: Extra inputs are not permitted"
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return f"{name}: Field required"
        for message in body["messages"]:
            if message.get("role") not in ("user", "assistant"):
                return "messages: roles must be user or assistant; use the top-level system"
        return None

    def model_of(self, request: RecordedRequest) -> str:
        return str((request.json or {}).get("model", "claude-mock"))

    def error(self, status: int, err_type: str, message: str) -> _Reply:
        return _json_reply(
            status,
            {
                "type": "error",
                "error": {"type": err_type, "message": message},
                "request_id": f"req_{uuid.uuid4().hex[:20]}",
            },
            {"request-id": f"req_{uuid.uuid4().hex[:20]}"},
        )

    def rate_limited(self, retry_after: float | None) -> _Reply:
        reply = self.error(
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests "
            "per minute.",
        )
        if retry_after is not None:
            reply.headers["retry-after"] = f"{retry_after:g}"
        return reply

    def server_error(self, status: int) -> _Reply:
        if status == 529:
            return self.error(529, "overloaded_error", "Overloaded")
        return self.error(status, "api_error", "Internal server error")

    def context_length(self) -> _Reply:
        return self.error(
            400, "invalid_request_error", "prompt is too long: 210571 tokens > 200000 maximum"
        )

    def auth_error(self, status: int, request: RecordedRequest) -> _Reply:
        if status == 403:
            return self.error(
                403, "permission_error", "Your API key does not have permission to use this."
            )
        return self.error(status, "authentication_error", "invalid x-api-key")

    def out_of_credit(self) -> _Reply:
        return self.error(
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.",
        )

    def not_found(self) -> _Reply:
        return self.error(404, "not_found_error", "Not found")

    @staticmethod
    def _usage_start(ok: Ok | TruncatedStream) -> dict[str, Any]:
        return {
            "input_tokens": ok.input_tokens - ok.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": ok.cached_tokens,
        }

    def _message(self, ok: Ok | TruncatedStream, request: RecordedRequest) -> dict[str, Any]:
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": self.model_of(request),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }

    def ok(self, ok: Ok, request: RecordedRequest) -> _Reply:
        message = self._message(ok, request)
        if ok.tool_call:
            arguments = ok.tool_call.get("arguments", {})
            message["content"] = [
                {
                    "type": "tool_use",
                    "id": ok.tool_call.get("id", "toolu_mock0001"),
                    "name": ok.tool_call["name"],
                    "input": json.loads(arguments) if isinstance(arguments, str) else arguments,
                }
            ]
            message["stop_reason"] = "tool_use"
        else:
            message["content"] = [{"type": "text", "text": ok.content}]
            message["stop_reason"] = "end_turn"
        message["usage"] = {**self._usage_start(ok), "output_tokens": ok.output_tokens}
        return _json_reply(200, message, {"request-id": f"req_{uuid.uuid4().hex[:20]}"})

    def malformed(self) -> bytes:
        return b'{"id": "msg_broken", "type": "message", "content": [{"type": "text", "te'

    @staticmethod
    def _event(name: str, payload: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()

    def stream(self, ok: Ok | TruncatedStream, request: RecordedRequest) -> tuple[list[bytes], int]:
        message = self._message(ok, request)
        message["usage"] = {**self._usage_start(ok), "output_tokens": 1}
        frames = [self._event("message_start", {"type": "message_start", "message": message})]
        tool_call = getattr(ok, "tool_call", None)
        if tool_call:
            block = {
                "type": "tool_use",
                "id": tool_call.get("id", "toolu_mock0001"),
                "name": tool_call["name"],
                "input": {},
            }
            deltas = [
                {"type": "input_json_delta", "partial_json": part}
                for part in ["", *_split(_arguments_text(tool_call))]
            ]
            stop_reason = "tool_use"
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(ok.content)]
            stop_reason = "end_turn"
        frames.append(
            self._event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            )
        )
        frames.append(self._event("ping", {"type": "ping"}))
        content_start = len(frames)
        frames += [
            self._event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
            for delta in deltas
        ]
        frames.append(self._event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        frames.append(
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": ok.output_tokens},
                },
            )
        )
        frames.append(self._event("message_stop", {"type": "message_stop"}))
        return frames, content_start

    def malformed_stream(self, request: RecordedRequest) -> list[bytes]:
        frames, _ = self.stream(Ok(), request)
        return [frames[0], b"event: content_block_delta\ndata: {broken\n\n"]


class _GeminiWire:
    name = "gemini"
    prefix = "/v1beta"
    _path = re.compile(r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)$")

    def route(self, method: str, path: str) -> str | None:
        return "chat" if method == "POST" and self._path.match(path) else None

    def validate(self, request: RecordedRequest) -> str | None:
        body = request.json
        if not isinstance(body, dict):
            return "Invalid JSON payload received."
        unknown = sorted(set(body) - GEMINI_FIELDS)
        if unknown:
            return f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
        if not body.get("contents"):
            return "* GenerateContentRequest.contents: contents is not specified"
        for content in body["contents"]:
            if content.get("role") not in ("user", "model"):
                return "Please use a valid role: user, model."
        if request.stream and request.query.get("alt") != "sse":
            return "this mock only streams with alt=sse"
        return None

    def model_of(self, request: RecordedRequest) -> str:
        match = self._path.match(request.path)
        return match.group(1) if match else "gemini-mock"

    def error(self, code: int, status: str, message: str, details: list | None = None) -> _Reply:
        error: dict[str, Any] = {"code": code, "message": message, "status": status}
        if details:
            error["details"] = details
        return _json_reply(code, {"error": error})

    def rate_limited(self, retry_after: float | None) -> _Reply:
        details = None
        if retry_after is not None:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after:g}s",
                }
            ]
        reply = self.error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            details,
        )
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
        return reply

    def server_error(self, status: int) -> _Reply:
        if status == 503:
            return self.error(
                503, "UNAVAILABLE", "The model is overloaded. Please try again later."
            )
        return self.error(status, "INTERNAL", "An internal error has occurred.")

    def context_length(self) -> _Reply:
        return self.error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1212345) exceeds the maximum number of tokens allowed "
            "(1048576).",
        )

    def auth_error(self, status: int, request: RecordedRequest) -> _Reply:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
        rpc = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED"}.get(status, "UNAUTHENTICATED")
        return self.error(status, rpc, "API key not valid. Please pass a valid API key.", details)

    def out_of_credit(self) -> _Reply:
        return self.rate_limited(None)  # Gemini answers quota and rate limits alike

    def not_found(self) -> _Reply:
        return self.error(404, "NOT_FOUND", "Requested entity was not found.")

    def _response(
        self, request: RecordedRequest, parts: list, finish: str | None, usage: dict
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": self.model_of(request),
            "responseId": request.response_id,
        }

    @staticmethod
    def _usage(ok: Ok | TruncatedStream, output_tokens: int | None) -> dict[str, Any]:
        usage: dict[str, Any] = {"promptTokenCount": ok.input_tokens}
        if output_tokens is not None:
            usage["candidatesTokenCount"] = output_tokens
        usage["totalTokenCount"] = ok.input_tokens + (output_tokens or 0)
        if ok.cached_tokens:
            usage["cachedContentTokenCount"] = ok.cached_tokens
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": ok.input_tokens}]
        return usage

    def _function_part(self, tool_call: dict) -> dict[str, Any]:
        arguments = tool_call.get("arguments", {})
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
        return {"functionCall": {"name": tool_call["name"], "args": args}}

    def ok(self, ok: Ok, request: RecordedRequest) -> _Reply:
        parts = [self._function_part(ok.tool_call)] if ok.tool_call else [{"text": ok.content}]
        return _json_reply(
            200, self._response(request, parts, "STOP", self._usage(ok, ok.output_tokens))
        )

    def malformed(self) -> bytes:
        return b'{"candidates": [{"content": {"parts": [{"text": "Hel'

    def stream(self, ok: Ok | TruncatedStream, request: RecordedRequest) -> tuple[list[bytes], int]:

        def frame(payload: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(payload).encode() + b"\r\n\r\n"

        tool_call = getattr(ok, "tool_call", None)
        if tool_call:
            usage = self._usage(ok, ok.output_tokens)
            return [
                frame(self._response(request, [self._function_part(tool_call)], "STOP", usage))
            ], 0
        pieces = _pieces(ok.content)
        frames = []
        for number, piece in enumerate(pieces, start=1):
            last = number == len(pieces)
            tokens = round(ok.output_tokens * number / len(pieces))
            frames.append(
                frame(
                    self._response(
                        request,
                        [{"text": piece}],
                        "STOP" if last else None,
                        self._usage(ok, tokens),
                    )
                )
            )
        return frames, 0

    def malformed_stream(self, request: RecordedRequest) -> list[bytes]:
        frames, _ = self.stream(Ok(), request)
        return [frames[0], b'data: {"candidates": [\r\n\r\n']


_WIRES = {"openai_chat": _OpenAIWire, "anthropic_messages": _AnthropicWire, "gemini": _GeminiWire}


# --- Server ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
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
        self._wire = _WIRES[wire_format]()
        self.requests: list[RecordedRequest] = []
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
        problem = wire.validate(request)
        if problem:
            return self._send(handler, self._bad_request(problem))
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
        if isinstance(behaviour, Malformed):
            if request.stream:
                return self._stream(handler, wire.malformed_stream(request), complete=True)
            return self._send(handler, _Reply(200, wire.malformed()))
        if isinstance(behaviour, TruncatedStream):
            if request.stream:
                frames, start = wire.stream(behaviour, request)
                return self._stream(
                    handler, frames[: start + behaviour.after_chunks], complete=False
                )
            reply = wire.ok(Ok(content=behaviour.content), request)
            return self._send(handler, reply, truncate=True)
        assert isinstance(behaviour, Ok)
        if request.stream:
            frames, _ = wire.stream(behaviour, request)
            return self._stream(handler, frames, complete=True, delay=behaviour.chunk_delay)
        return self._send(handler, wire.ok(behaviour, request))

    def _bad_request(self, message: str) -> _Reply:
        wire = self._wire
        if isinstance(wire, _OpenAIWire):
            return wire.error(400, message, "invalid_request_error", None)
        if isinstance(wire, _AnthropicWire):
            return wire.error(400, "invalid_request_error", message)
        return wire.error(400, "INVALID_ARGUMENT", message)

    @staticmethod
    def _send(handler: _Handler, reply: _Reply, *, truncate: bool = False) -> None:
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
