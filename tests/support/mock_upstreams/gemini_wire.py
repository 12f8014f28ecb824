"""Gemini generateContent / streamGenerateContent on the wire.

Streams are `data: {GenerateContentResponse}` frames with CRLF line ends, cumulative
usageMetadata on every frame and finishReason on the last; there is no end marker.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.mock_upstreams.behaviours import Ok, RecordedRequest, TruncatedStream
from tests.support.mock_upstreams.content import embedding_vector, word_pieces
from tests.support.mock_upstreams.wire import Reply, json_reply

# Request fields the API accepts; anything else is refused, as the real API does.
GEMINI_FIELDS = {
    "contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config",
    "safetySettings", "safety_settings", "generationConfig", "generation_config",
    "cachedContent", "cached_content",
}  # fmt: skip


EMBED_FIELDS = {"content", "taskType", "title", "outputDimensionality"}
EMBEDDING_DIMENSIONS = 16  # the mock's vector length unless outputDimensionality asks another


class GeminiWire:
    """POST /v1beta/models/{model}:(stream)generateContent, errors as google.rpc statuses."""

    name = "gemini"
    prefix = "/v1beta"
    _path = re.compile(r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)$")
    _embed_path = re.compile(r"^/v1beta/models/([^/:]+):(embedContent|batchEmbedContents)$")

    def route(self, method: str, path: str) -> str | None:
        if method != "POST":
            return None
        if self._path.match(path):
            return "chat"
        return "embeddings" if self._embed_path.match(path) else None

    def validate_embeddings(self, request: RecordedRequest) -> str | None:
        body = request.json
        if not isinstance(body, dict):
            return "Invalid JSON payload received."
        batch = request.path.endswith(":batchEmbedContents")
        items = body.get("requests") if batch else [body]
        if not isinstance(items, list) or not items:
            return "* BatchEmbedContentsRequest.requests: requests is not specified"
        for item in items:
            unknown = sorted(set(item) - EMBED_FIELDS - ({"model"} if batch else set()))
            if unknown:
                return f'Invalid JSON payload received. Unknown name "{unknown[0]}".'
            parts = (item.get("content") or {}).get("parts")
            if not parts or not all(isinstance(p.get("text"), str) for p in parts):
                return "* EmbedContentRequest.content: contains no text parts"
        return None

    def embeddings(self, ok: Ok, request: RecordedRequest) -> Reply:
        """embedContent: {"embedding": {"values"}}; batch: {"embeddings": [...]}; no usage."""
        body = request.json
        batch = request.path.endswith(":batchEmbedContents")
        vectors = []
        for item in body["requests"] if batch else [body]:
            text = "".join(part["text"] for part in item["content"]["parts"])
            dimensions = int(item.get("outputDimensionality") or EMBEDDING_DIMENSIONS)
            vectors.append({"values": embedding_vector(json.dumps(text), dimensions)})
        return json_reply(200, {"embeddings": vectors} if batch else {"embedding": vectors[0]})

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

    def bad_request(self, message: str) -> Reply:
        return self.error(400, "INVALID_ARGUMENT", message)

    def model_of(self, request: RecordedRequest) -> str:
        match = self._path.match(request.path)
        return match.group(1) if match else "gemini-mock"

    def error(self, code: int, status: str, message: str, details: list | None = None) -> Reply:
        error: dict[str, Any] = {"code": code, "message": message, "status": status}
        if details:
            error["details"] = details
        return json_reply(code, {"error": error})

    def rate_limited(self, retry_after: float | None) -> Reply:
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

    def server_error(self, status: int) -> Reply:
        if status == 503:
            return self.error(
                503, "UNAVAILABLE", "The model is overloaded. Please try again later."
            )
        return self.error(status, "INTERNAL", "An internal error has occurred.")

    def context_length(self) -> Reply:
        return self.error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1212345) exceeds the maximum number of tokens allowed "
            "(1048576).",
        )

    def auth_error(self, status: int, request: RecordedRequest) -> Reply:
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

    def out_of_credit(self) -> Reply:
        return self.rate_limited(None)  # Gemini answers quota and rate limits alike

    def not_found(self) -> Reply:
        return self.error(404, "NOT_FOUND", "Requested entity was not found.")

    def key_echo(self, status: int, key: str) -> Reply:
        rpc = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED"}.get(status, "UNAUTHENTICATED")
        message = f"API key not valid: {key} (https://x.googleapis.com/v1beta/models?key={key})"
        return self.error(status, rpc, message)

    def stream_error(self, message: str) -> bytes:
        error = {"error": {"code": 500, "message": message, "status": "INTERNAL"}}
        return b"data: " + json.dumps(error).encode() + b"\r\n\r\n"

    def models(self) -> Reply:
        """Never routed to: this mock lists no models."""
        return self.not_found()

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
        if output_tokens is not None:  # candidates leave the thinking out: thoughtsTokenCount
            usage["candidatesTokenCount"] = max(output_tokens - ok.reasoning_tokens, 0)
        usage["totalTokenCount"] = ok.input_tokens + (output_tokens or 0)
        if ok.cached_tokens:
            usage["cachedContentTokenCount"] = ok.cached_tokens
        if ok.reasoning_tokens:
            usage["thoughtsTokenCount"] = ok.reasoning_tokens
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": ok.input_tokens}]
        return usage

    def _function_part(self, tool_call: dict) -> dict[str, Any]:
        arguments = tool_call.get("arguments", {})
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
        return {"functionCall": {"name": tool_call["name"], "args": args}}

    def ok(self, ok: Ok, request: RecordedRequest) -> Reply:
        parts = [self._function_part(ok.tool_call)] if ok.tool_call else [{"text": ok.content}]
        if ok.thinking:
            parts.insert(0, {"text": ok.thinking, "thought": True})
        return json_reply(
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
        pieces = word_pieces(ok.content)
        frames = []
        if getattr(ok, "thinking", ""):
            thought = [{"text": ok.thinking, "thought": True}]
            frames.append(frame(self._response(request, thought, None, self._usage(ok, 0))))
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
