"""Anthropic Messages on the wire.

Streams follow the published event sequence: message_start (input usage), content_block_start,
ping, content_block_delta..., content_block_stop, message_delta (stop_reason, output usage),
message_stop.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.mock_upstreams.behaviours import Ok, RecordedRequest, TruncatedStream
from tests.support.mock_upstreams.content import arguments_text, split_text, word_pieces
from tests.support.mock_upstreams.wire import Reply, json_reply

# Request fields the API accepts; anything else is refused, as the real API does.
ANTHROPIC_FIELDS = {
    "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k",
    "stop_sequences", "stream", "tools", "tool_choice", "metadata", "thinking", "output_config",
    "output_format", "service_tier", "container", "mcp_servers", "context_management",
}  # fmt: skip


COUNT_TOKENS_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking"}


class AnthropicWire:
    """POST /v1/messages (anthropic-version header required), errors in Anthropic's shape."""

    name = "anthropic_messages"
    prefix = ""

    def route(self, method: str, path: str) -> str | None:
        if method != "POST":
            return None
        return {"/v1/messages": "chat", "/v1/messages/count_tokens": "count_tokens"}.get(path)

    def count_tokens(self, behaviour: object, request: RecordedRequest) -> Reply:
        """`{"input_tokens": n}` (the scripted Ok's input_tokens); fields beyond what the
        endpoint takes are refused, as the real one does."""
        body = request.json if isinstance(request.json, dict) else {}
        unknown = sorted(set(body) - COUNT_TOKENS_FIELDS)
        if unknown:
            return self.bad_request(f"{unknown[0]}: Extra inputs are not permitted")
        if "model" not in body or "messages" not in body:
            return self.bad_request("model and messages: Field required")
        if not isinstance(behaviour, Ok):
            return self.server_error(500)
        return json_reply(200, {"input_tokens": behaviour.input_tokens})

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

    def validate_embeddings(self, request: RecordedRequest) -> str | None:
        return "Anthropic has no embeddings endpoint"  # never routed to: route() says 404

    def embeddings(self, ok: Ok, request: RecordedRequest) -> Reply:
        return self.not_found()

    def bad_request(self, message: str) -> Reply:
        return self.error(400, "invalid_request_error", message)

    def model_of(self, request: RecordedRequest) -> str:
        return str((request.json or {}).get("model", "claude-mock"))

    def error(self, status: int, err_type: str, message: str) -> Reply:
        return json_reply(
            status,
            {
                "type": "error",
                "error": {"type": err_type, "message": message},
                "request_id": f"req_{uuid.uuid4().hex[:20]}",
            },
            {"request-id": f"req_{uuid.uuid4().hex[:20]}"},
        )

    def rate_limited(self, retry_after: float | None) -> Reply:
        reply = self.error(
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests "
            "per minute.",
        )
        if retry_after is not None:
            reply.headers["retry-after"] = f"{retry_after:g}"
        return reply

    def server_error(self, status: int) -> Reply:
        if status == 529:
            return self.error(529, "overloaded_error", "Overloaded")
        return self.error(status, "api_error", "Internal server error")

    def context_length(self) -> Reply:
        return self.error(
            400, "invalid_request_error", "prompt is too long: 210571 tokens > 200000 maximum"
        )

    def auth_error(self, status: int, request: RecordedRequest) -> Reply:
        if status == 403:
            return self.error(
                403, "permission_error", "Your API key does not have permission to use this."
            )
        return self.error(status, "authentication_error", "invalid x-api-key")

    def out_of_credit(self) -> Reply:
        return self.error(
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.",
        )

    def not_found(self) -> Reply:
        return self.error(404, "not_found_error", "Not found")

    def key_echo(self, status: int, key: str) -> Reply:
        return self.error(status, "authentication_error", f"invalid x-api-key: {key}")

    def stream_error(self, message: str) -> bytes:
        error = {"type": "error", "error": {"type": "api_error", "message": message}}
        return self._event("error", error)

    def models(self) -> Reply:
        """Never routed to: this mock lists no models."""
        return self.not_found()

    @staticmethod
    def _usage_start(ok: Ok | TruncatedStream) -> dict[str, Any]:
        """input_tokens leaves the cache out; writes are split by TTL in `cache_creation`."""
        usage: dict[str, Any] = {
            "input_tokens": ok.input_tokens - ok.cached_tokens - ok.cache_write_tokens,
            "cache_creation_input_tokens": ok.cache_write_tokens,
            "cache_read_input_tokens": ok.cached_tokens,
        }
        if ok.cache_write_tokens:
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": ok.cache_write_tokens - ok.cache_write_1h_tokens,
                "ephemeral_1h_input_tokens": ok.cache_write_1h_tokens,
            }
        return usage

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

    def ok(self, ok: Ok, request: RecordedRequest) -> Reply:
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
        if ok.thinking:
            block = {"type": "thinking", "thinking": ok.thinking, "signature": "sig-mock"}
            message["content"].insert(0, block)
        message["usage"] = {**self._usage_start(ok), "output_tokens": ok.output_tokens}
        return json_reply(200, message, {"request-id": f"req_{uuid.uuid4().hex[:20]}"})

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
                for part in ["", *split_text(arguments_text(tool_call))]
            ]
            stop_reason = "tool_use"
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in word_pieces(ok.content)]
            stop_reason = "end_turn"
        thinking = getattr(ok, "thinking", "")
        index = 1 if thinking else 0
        if thinking:
            frames += self._thinking_frames(thinking)
        frames.append(
            self._event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        frames.append(self._event("ping", {"type": "ping"}))
        content_start = len(frames)
        frames += [
            self._event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
            for delta in deltas
        ]
        frames.append(
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        )
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

    def _thinking_frames(self, thinking: str) -> list[bytes]:
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in word_pieces(thinking)]
        deltas.append({"type": "signature_delta", "signature": "sig-mock"})
        return [
            self._event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": start},
            ),
            *(
                self._event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
                for delta in deltas
            ),
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]

    def malformed_stream(self, request: RecordedRequest) -> list[bytes]:
        frames, _ = self.stream(Ok(), request)
        return [frames[0], b"event: content_block_delta\ndata: {broken\n\n"]
