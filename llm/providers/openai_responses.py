"""OpenAI Responses served natively: a request that came in through `/v1/responses` goes to an
OpenAI model (a provider whose catalog entry says `responses_api`) as `POST {base}/responses`,
exactly as the client wrote it (stored state, built-in tools, reasoning, include...). Its answer
and stream events travel back beside their chat translation (which the gateway meters, caches
and falls back on), so the client gets exactly what OpenAI sent.

Usage: Responses `input_tokens` counts cached ones (input_tokens_details.cached_tokens),
`output_tokens` the reasoning ones (output_tokens_details.reasoning_tokens), as chat does.
"""

from collections.abc import Mapping
from typing import Any

from llm.providers.contract import ChatResult, ProviderError, UpstreamRequest, Usage
from llm.providers.errors import make_error
from llm.providers.openai_chat import OpenAIChatAdapter
from llm.providers.openai_shapes import chat_completion
from llm.providers.request_options import max_output_tokens
from llm.providers.responses_inbound import NATIVE_KEY as NATIVE_REQUEST
from llm.providers.responses_outbound import NATIVE_EVENT, NATIVE_KEY
from llm.providers.sse import BaseStreamParser
from llm.providers.wire_helpers import request_headers

_ENDS = {"response.completed": "stop", "response.incomplete": "length"}


def is_responses(body: Mapping[str, Any]) -> bool:
    """The body came through /v1/responses (it carries the client's own request)."""
    return isinstance(body.get(NATIVE_REQUEST), dict)


def usage_from_responses(raw: Mapping[str, Any] | None) -> Usage:
    if not raw:
        return Usage()
    details = raw.get("input_tokens_details") or {}
    output = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
        cache_write_tokens=int(details.get("cache_write_tokens") or 0),
        reasoning_tokens=int(output.get("reasoning_tokens") or 0),
    )


def _chat_parts(output: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """The text and the function calls of a response's output items, in chat's shape."""
    texts, calls = [], []
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text", "")))
        elif item.get("type") == "function_call":
            calls.append(
                {
                    "id": str(item.get("call_id", "")),
                    "type": "function",
                    "function": {
                        "name": str(item.get("name", "")),
                        "arguments": str(item.get("arguments") or "{}"),
                    },
                }
            )
    return ("".join(texts) if texts else None), calls


class OpenAIResponsesAdapter(OpenAIChatAdapter):
    """The OpenAI adapter for bodies that carry a native Responses request (`is_responses`);
    errors read as chat's (same error shape)."""

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
        if "max_output_tokens" not in payload and max_output_tokens(body):
            payload["max_output_tokens"] = int(max_output_tokens(body))
        for name in ("temperature", "top_p"):
            if name not in payload and body.get(name) is not None:
                payload[name] = body[name]
        if stream:
            payload["stream"] = True
        return UpstreamRequest(
            method="POST",
            url=base_url.rstrip("/") + "/responses",
            headers=request_headers(stream=stream, auth_style=auth_style, api_key=api_key),
            json=payload,
        )

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> ChatResult:
        if payload.get("object") != "response" or not isinstance(payload.get("output"), list):
            raise ProviderError("upstream response has no output", kind="malformed", retryable=True)
        text, calls = _chat_parts(payload["output"])
        finish = "tool_calls" if calls else "stop"
        if payload.get("status") == "incomplete":
            finish = "length"
        result = chat_completion(
            upstream_id=str(payload.get("id") or "") or None,
            model=model,
            text=text,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage_from_responses(payload.get("usage")),
        )
        result.body[NATIVE_KEY] = dict(payload)
        return result

    def stream_parser(self, *, model: str, request_id: str) -> "ResponsesStreamParser":
        return ResponsesStreamParser(model=model, request_id=request_id)


class ResponsesStreamParser(BaseStreamParser):
    """Responses stream events to chat chunks; every upstream event rides on a chunk of its
    own (NATIVE_EVENT): on the chunk it translates to, or on an empty one."""

    def __init__(self, *, model: str, request_id: str) -> None:
        super().__init__(model=model, request_id=request_id)
        self._tools: dict[str, int] = {}  # function_call item id -> chat tool call index

    def _on_event(self, event: str | None, data: str) -> list[dict[str, Any]]:
        payload = self._load_event(data)
        chunks = self._translate(str(payload.get("type") or event or ""), payload)
        if not chunks:
            chunks = [{**self.factory.chunk(delta={}), "choices": []}]
        chunks[0][NATIVE_EVENT] = payload
        return chunks

    def _translate(self, kind: str, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        if kind == "response.output_text.delta":
            return [self._chunk({"content": str(payload.get("delta", ""))})]
        if kind == "response.output_item.added":
            item = payload.get("item") or {}
            if item.get("type") != "function_call":
                return []
            index = self._tools.setdefault(str(item.get("id", "")), len(self._tools))
            call = {
                "index": index,
                "id": str(item.get("call_id", "")),
                "type": "function",
                "function": {"name": str(item.get("name", "")), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if kind == "response.function_call_arguments.delta":
            call_index = self._tools.get(str(payload.get("item_id", "")))
            if call_index is None or not payload.get("delta"):
                return []
            call = {"index": call_index, "function": {"arguments": str(payload["delta"])}}
            return [self._chunk({"tool_calls": [call]})]
        if kind in _ENDS:
            response = payload.get("response") or {}
            self._reported = usage_from_responses(response.get("usage"))
            self.finished = self.usage_complete = True
            finish = "tool_calls" if self._tools and kind == "response.completed" else _ENDS[kind]
            return [self._chunk({}, finish_reason=finish)]
        if kind in ("response.failed", "error"):
            self._fail(payload)
        return []

    def _fail(self, payload: Mapping[str, Any]) -> None:
        error = (payload.get("response") or {}).get("error") or payload
        if "response" in payload:
            self._reported = usage_from_responses((payload["response"] or {}).get("usage"))
        mapped = make_error(
            status=429 if error.get("code") == "rate_limit_exceeded" else 500,
            message=str(error.get("message") or "upstream stream error"),
            headers={},
        )
        mapped.usage = self.usage
        raise mapped
