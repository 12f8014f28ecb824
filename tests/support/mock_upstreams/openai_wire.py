"""OpenAI Chat Completions on the wire (also what OpenAI-compatible providers speak).

Streams are `data: {chunk}` frames, a final usage chunk (empty choices) only when the request
sent `stream_options.include_usage`, then `data: [DONE]`.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from typing import Any

from tests.support.mock_upstreams import openai_responses_wire
from tests.support.mock_upstreams.behaviours import Ok, RecordedRequest, TruncatedStream
from tests.support.mock_upstreams.content import (
    arguments_text,
    embedding_vector,
    split_text,
    word_pieces,
)
from tests.support.mock_upstreams.wire import Reply, json_reply

# Request fields the API accepts; like the real API, the mock refuses anything else, so a gateway
# that forwards a client's stray field (or our own routing hints) fails loudly.
OPENAI_FIELDS = {
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "stop",
    "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias",
    "logprobs", "top_logprobs", "user", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "seed", "service_tier", "store", "metadata", "reasoning_effort",
    "verbosity", "modalities", "audio", "prediction", "web_search_options", "functions",
    "function_call", "safety_identifier", "prompt_cache_key",
}  # fmt: skip


EMBEDDING_FIELDS = {"model", "input", "encoding_format", "dimensions", "user"}
EMBEDDING_DIMENSIONS = 16  # the mock's vector length unless `dimensions` asks for another


def _masked(key: str) -> str:
    return key[:8] + "*" * 20 + key[-4:] if len(key) > 12 else "****"


class OpenAIWire:
    """POST /v1/chat/completions and GET /v1/models, errors in OpenAI's shape."""

    name = "openai_chat"
    prefix = "/v1"

    def route(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/v1/chat/completions":
            return "chat"
        if method == "POST" and path == "/v1/embeddings":
            return "embeddings"
        if method == "POST" and path == "/v1/responses":
            return "responses"
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
        if "cache_control" in json.dumps([body["messages"], body.get("tools")]):
            # Strict OpenAI-compatible vendors refuse Anthropic's prompt-caching markers.
            return "messages: Extra inputs are not permitted (cache_control)"
        return None

    def validate_responses(self, request: RecordedRequest) -> str | None:
        return openai_responses_wire.validate(request)

    def responses(self, ok: Ok, request: RecordedRequest) -> Reply:
        return openai_responses_wire.ok_reply(ok, request)

    def responses_stream(
        self, ok: Ok | TruncatedStream, request: RecordedRequest
    ) -> tuple[list[bytes], int]:
        return openai_responses_wire.stream_frames(ok, request)

    def validate_embeddings(self, request: RecordedRequest) -> str | None:
        body = request.json
        if not isinstance(body, dict):
            return "We could not parse the JSON body of your request."
        unknown = sorted(set(body) - EMBEDDING_FIELDS)
        if unknown:
            return f"Unrecognized request argument supplied: {unknown[0]}"
        if not body.get("model") or not body.get("input"):
            return "you must provide a model and an input"
        if body.get("encoding_format") not in (None, "float", "base64"):
            return "encoding_format must be float or base64"
        if "dimensions" in body and not str(body["model"]).startswith("text-embedding-3"):
            return "This model does not support specifying dimensions."
        return None

    def embeddings(self, ok: Ok, request: RecordedRequest) -> Reply:
        """Floats, or base64 float32 when asked; `ok.input_tokens` is the usage reported."""
        body = request.json
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if inputs and isinstance(inputs[0], int):
            inputs = [inputs]
        dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
        data = []
        for index, item in enumerate(inputs):
            chosen = (ok.vectors or {}).get(item) if isinstance(item, str) else None
            vector: Any = chosen or embedding_vector(json.dumps(item), dimensions)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        usage = {"prompt_tokens": ok.input_tokens, "total_tokens": ok.input_tokens}
        return json_reply(
            200, {"object": "list", "data": data, "model": body["model"], "usage": usage}
        )

    def bad_request(self, message: str) -> Reply:
        return self.error(400, message, "invalid_request_error", None)

    def model_of(self, request: RecordedRequest) -> str:
        return str((request.json or {}).get("model", "mock-model"))

    def error(self, status: int, message: str, err_type: str, code: str | None) -> Reply:
        return json_reply(
            status, {"error": {"message": message, "type": err_type, "param": None, "code": code}}
        )

    def rate_limited(self, retry_after: float | None) -> Reply:
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

    def server_error(self, status: int) -> Reply:
        return self.error(
            status, "The server had an error while processing your request.", "server_error", None
        )

    def context_length(self) -> Reply:
        return json_reply(
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

    def auth_error(self, status: int, request: RecordedRequest) -> Reply:
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        message = (
            f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
            if key
            else "You didn't provide an API key."
        )
        return self.error(status, message, "invalid_request_error", "invalid_api_key")

    def out_of_credit(self) -> Reply:
        return self.error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )

    def not_found(self) -> Reply:
        return self.error(404, "Invalid URL", "invalid_request_error", None)

    def key_echo(self, status: int, key: str) -> Reply:
        message = f"Incorrect API key provided: {key}. Authorization: Bearer {key}"
        return self.error(status, message, "invalid_request_error", "invalid_api_key")

    def stream_error(self, message: str) -> bytes:
        error = {"error": {"message": message, "type": "server_error", "code": None}}
        return b"data: " + json.dumps(error).encode() + b"\n\n"

    def models(self) -> Reply:
        return json_reply(
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
                "reasoning_tokens": ok.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def ok(self, ok: Ok, request: RecordedRequest) -> Reply:
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
                        "arguments": arguments_text(ok.tool_call),
                    },
                }
            ]
            finish = "tool_calls"
        return json_reply(
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
                for part in split_text(arguments_text(tool_call))
            ]
            finish = "tool_calls"
        else:
            frames = [frame({"role": "assistant", "content": "", "refusal": None})]
            frames += [frame({"content": piece}) for piece in word_pieces(ok.content)]
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
