"""OpenAI Chat Completions: OpenAI itself and every OpenAI-compatible vendor, by base URL.

The request is already in this shape, so the work is a whitelist (nothing from the client sets
the URL, headers or unknown fields), usage on streams, and error classification.
"""

import json
import time
from collections.abc import Mapping
from typing import Any

import orjson

from llm.providers.contract import ChatResult, ProviderError, UpstreamRequest, Usage
from llm.providers.errors import make_error
from llm.providers.openai_shapes import usage_to_openai
from llm.providers.sse import BaseStreamParser, sse_bytes
from llm.providers.wire_helpers import new_id, request_headers

# Fields forwarded upstream as they are; everything else in the client body is dropped.
FORWARDED_FIELDS = (
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "n",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "verbosity",
    "modalities",
    "prediction",
)

CONTEXT_LENGTH_SIGNALS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "too many tokens",
    "reduce the length of the messages",
)


def usage_from_openai(raw: Mapping[str, Any] | None) -> Usage:
    """prompt_tokens already counts the cached ones, completion_tokens the reasoning ones. A
    `cache_write_tokens` detail (our own OpenAI shape, e.g. a Tollgate upstream) is read too."""
    if not raw:
        return Usage()
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(prompt.get("cached_tokens") or 0),
        cache_write_tokens=int(prompt.get("cache_write_tokens") or 0),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
    )


class OpenAIChatAdapter:
    wire_format = "openai_chat"

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
        payload: dict[str, Any] = {"model": model_id}
        for name in FORWARDED_FIELDS:
            if name in body and body[name] is not None:
                payload[name] = body[name]  # shared, not copied: nothing here or later mutates it
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        headers = request_headers(stream=stream, auth_style=auth_style, api_key=api_key)
        return UpstreamRequest(
            method="POST",
            url=base_url.rstrip("/") + "/chat/completions",
            headers=headers,
            json=payload,
        )

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> ChatResult:
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ProviderError(
                "upstream response has no choices", kind="malformed", retryable=True
            )
        usage = usage_from_openai(payload.get("usage"))
        out_choices = []
        for position, choice in enumerate(choices):
            message = dict(choice.get("message") or {})
            message.setdefault("role", "assistant")
            message.setdefault("content", None)
            out_choices.append(
                {
                    "index": choice.get("index", position),
                    "message": message,
                    "logprobs": choice.get("logprobs"),
                    "finish_reason": choice.get("finish_reason") or "stop",
                }
            )
        body = {
            "id": payload.get("id") or new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(payload.get("created") or time.time()),
            "model": model,
            "choices": out_choices,
            "usage": usage_to_openai(usage),
        }
        if payload.get("system_fingerprint"):
            body["system_fingerprint"] = payload["system_fingerprint"]
        return ChatResult(body=body, usage=usage)

    def stream_parser(self, *, model: str, request_id: str) -> BaseStreamParser:
        return OpenAIStreamParser(model=model, request_id=request_id)

    def map_error(self, *, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        message, code, err_type = error_fields(body)
        haystack = f"{code or ''} {err_type or ''} {message or ''}".lower()
        return make_error(
            status=status,
            message=message,
            headers=headers,
            context_length=status in (400, 413, 422)
            and any(s in haystack for s in CONTEXT_LENGTH_SIGNALS),
            auth=code == "invalid_api_key",
            quota="insufficient_quota" in (code, err_type),
        )


def error_fields(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(message, code, type) of `{"error": {...}}`; some vendors send a bare string error."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None, None
    if not isinstance(payload, dict):
        return None, None, None
    error = payload.get("error", payload)
    if isinstance(error, str):
        return error, None, None
    if not isinstance(error, dict):
        return None, None, None
    message = error.get("message")
    code = error.get("code")
    return (
        str(message) if message else None,
        str(code) if code is not None else None,
        str(error.get("type")) if error.get("type") else None,
    )


class OpenAIStreamParser(BaseStreamParser):
    """OpenAI events are already chunks: each is rebuilt with the gateway's id, creation time and
    model, the role only on a choice's first delta, `None` fields dropped, the usage chunk kept
    back (the gateway sends its own at the end)."""

    def __init__(self, *, model: str, request_id: str) -> None:
        super().__init__(model=model, request_id=request_id)
        self._content_head: bytes | None = None

    def relay(self, data: bytes) -> bytes:
        """What `feed` would give, encoded, byte for byte; the common event (one choice, a
        text-only delta after the role chunk: 499 of a 500-chunk answer) is written from a
        per-stream template around its text, without building or encoding a chunk dict."""
        out: list[bytes] = []
        for _event, data_text in self._decoder.feed(data):
            if data_text.strip() == "[DONE]":
                self.finished = True
                continue
            payload = self._load_event(data_text)
            text = _plain_text_delta(payload, self._role_sent)
            if text is None:
                out.extend(map(sse_bytes, self._chunks_of(payload, data_text)))
                continue
            self._chars += len(text)
            self.content_seen = self.content_seen or bool(text)
            out.append(self._text_event(text))
        return b"".join(out)

    def _text_event(self, text: str) -> bytes:
        if self._content_head is None:
            factory = self.factory
            head = orjson.dumps(
                {
                    "id": f"chatcmpl-{factory.request_id}",
                    "object": "chat.completion.chunk",
                    "created": factory.created,
                    "model": factory.model,
                }
            )
            self._content_head = (
                b"data: " + head[:-1] + b',"choices":[{"index":0,"delta":{"content":'
            )
        return self._content_head + orjson.dumps(text) + b'},"finish_reason":null}]}\n\n'

    def _on_event(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if data.strip() == "[DONE]":
            self.finished = True
            return []
        return self._chunks_of(self._load_event(data), data)

    def _chunks_of(self, payload: dict[str, Any], data: str) -> list[dict[str, Any]]:
        if "error" in payload and not payload.get("choices"):
            message, _code, _type = error_fields(data.encode())
            raise ProviderError(
                f"upstream stream error: {message or 'unknown'}",
                kind="server",
                retryable=True,
                usage=self.usage,
            )
        if payload.get("usage"):
            self._reported = usage_from_openai(payload["usage"])
            self.usage_complete = True
        chunks = []
        for choice in payload.get("choices") or ():
            delta = {
                key: value
                for key, value in (choice.get("delta") or {}).items()
                if key != "role" and value is not None
            }
            finish_reason = choice.get("finish_reason")
            index = choice.get("index", 0)
            if not delta and finish_reason is None and index in self._role_sent:
                continue
            chunks.append(self._chunk(delta, finish_reason=finish_reason, index=index))
        return chunks


def _plain_text_delta(payload: dict[str, Any], role_sent: set[int]) -> str | None:
    """The text of an event that is one choice 0 delta with only `content` (the role already
    sent, no finish reason, no usage, no error); None for any other event."""
    choices = payload.get("choices")
    if payload.get("usage") or type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") is not None:
        return None
    if choice.get("index", 0) != 0 or 0 not in role_sent:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict:
        return None
    text = delta.get("content")
    if type(text) is not str:
        return None
    if len(delta) > 1 and any(
        value is not None for key, value in delta.items() if key not in ("content", "role")
    ):
        return None
    return text
