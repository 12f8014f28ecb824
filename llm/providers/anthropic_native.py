"""Anthropic Messages served natively: a request that came in through `/v1/messages` goes to an
Anthropic model as the client wrote it (thinking, cache breakpoints, server tools, top_k...),
and its answer and stream events travel back beside their OpenAI translation (which the
gateway meters, caches and falls back on), so the client gets exactly what Anthropic sent.
Also the `count_tokens` request of the same body."""

from collections.abc import Mapping
from typing import Any

import orjson

from llm.providers.anthropic_inbound import NATIVE_KEY as NATIVE_REQUEST
from llm.providers.anthropic_messages import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    AnthropicMessagesAdapter,
    AnthropicStreamParser,
)
from llm.providers.anthropic_outbound import NATIVE_EVENT, NATIVE_KEY
from llm.providers.contract import ChatResult, ProviderError, UpstreamRequest
from llm.providers.request_options import max_output_tokens
from llm.providers.wire_helpers import request_headers

COUNT_FIELDS = ("messages", "system", "tools", "tool_choice", "thinking")


def is_native(body: Mapping[str, Any]) -> bool:
    """The body came through /v1/messages (it carries the client's own request)."""
    return isinstance(body.get(NATIVE_REQUEST), dict)


def _headers(api_key: str | None, auth_style: str, *, stream: bool) -> dict[str, str]:
    return request_headers(
        stream=stream,
        auth_style=auth_style,
        api_key=api_key,
        extra={"anthropic-version": ANTHROPIC_VERSION},
    )


class AnthropicNativeAdapter(AnthropicMessagesAdapter):
    """The Anthropic adapter for bodies that carry a native request (`is_native`)."""

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
        """The client's request with the served model; a config's sampling settings fill in
        only what the client left out."""
        payload: dict[str, Any] = {"model": model_id, **body[NATIVE_REQUEST]}
        payload.setdefault("max_tokens", int(max_output_tokens(body) or DEFAULT_MAX_TOKENS))
        if "temperature" not in payload and body.get("temperature") is not None:
            payload["temperature"] = min(max(float(body["temperature"]), 0.0), 1.0)
        if stream:
            payload["stream"] = True
        return UpstreamRequest(
            method="POST",
            url=base_url.rstrip("/") + "/v1/messages",
            headers=_headers(api_key, auth_style, stream=stream),
            json=payload,
        )

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> ChatResult:
        result = super().parse_response(payload=payload, model=model)
        result.body[NATIVE_KEY] = dict(payload)
        return result

    def stream_parser(self, *, model: str, request_id: str) -> "AnthropicNativeStreamParser":
        return AnthropicNativeStreamParser(model=model, request_id=request_id)


class AnthropicNativeStreamParser(AnthropicStreamParser):
    """Every upstream event rides on a chunk of its own (NATIVE_EVENT): on the chunk it
    translates to, or on an empty one (ping, block stops, thinking deltas, message_stop)."""

    def _on_event(self, event: str | None, data: str) -> list[dict[str, Any]]:
        chunks = super()._on_event(event, data)
        raw = orjson.loads(data)  # valid: the translation above read it
        if not chunks:
            chunks = [{**self.factory.chunk(delta={}), "choices": []}]
        chunks[0][NATIVE_EVENT] = raw
        return chunks


def count_tokens_request(
    *, native: Mapping[str, Any], model_id: str, base_url: str, api_key: str | None, auth_style: str
) -> UpstreamRequest:
    """Anthropic's `POST /v1/messages/count_tokens` for a Messages body."""
    payload = {"model": model_id, **{k: native[k] for k in COUNT_FIELDS if k in native}}
    return UpstreamRequest(
        method="POST",
        url=base_url.rstrip("/") + "/v1/messages/count_tokens",
        headers=_headers(api_key, auth_style, stream=False),
        json=payload,
    )


class CountTokensReader:
    """Reads count_tokens answers (`{"input_tokens": n}`) the way the HTTP helper reads any."""

    wire_format = "anthropic_messages"
    _errors = AnthropicMessagesAdapter()

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> int:
        tokens = payload.get("input_tokens")
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ProviderError("count_tokens answer has no input_tokens", kind="malformed")
        return tokens

    def map_error(self, *, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        return self._errors.map_error(status=status, body=body, headers=headers)
