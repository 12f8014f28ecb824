"""Anthropic Messages (`POST /v1/messages`, API version 2023-06-01) to and from OpenAI's shape.

System and developer messages become `system`; tool calls become `tool_use` blocks and tool
messages `tool_result` blocks in a user turn; consecutive turns of one role are merged, because
all results of one assistant turn must arrive in the single user turn that follows it.
"""

import copy
import json
from collections.abc import Mapping
from typing import Any

from llm.providers.contract import ChatResult, ProviderError, UpstreamRequest, Usage
from llm.providers.errors import make_error, unsupported
from llm.providers.message_folding import Part, ToolCall, content_parts, fold_messages
from llm.providers.openai_shapes import chat_completion, openai_tool_call
from llm.providers.reasoning import anthropic_thinking
from llm.providers.request_options import (
    function_definitions,
    json_schema,
    max_output_tokens,
    require_single_choice,
    stop_sequences,
)
from llm.providers.sse import BaseStreamParser
from llm.providers.wire_helpers import new_id, parse_data_url, request_headers

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
JSON_OBJECT_INSTRUCTION = "Respond only with a single valid JSON object, and nothing else."

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# error.type -> status when an error arrives inside a stream (HTTP status is already 200).
STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

CONTEXT_LENGTH_SIGNALS = ("prompt is too long", "context window", "too many tokens")
# Out of credit: a 400 invalid_request_error saying so, or a billing_error.
CREDIT_SIGNALS = ("credit balance is too low",)


def usage_from_anthropic(raw: Mapping[str, Any] | None) -> Usage:
    """Anthropic's input_tokens leaves the cache out: cache reads and writes are reported beside
    it (writes split by TTL in `cache_creation`), so our input is the sum of the three. Thinking
    is inside output_tokens and not reported apart."""
    if not raw:
        return Usage()
    cache_read = int(raw.get("cache_read_input_tokens") or 0)
    cache_write = int(raw.get("cache_creation_input_tokens") or 0)
    by_ttl = raw.get("cache_creation") or {}
    write_1h = int(by_ttl.get("ephemeral_1h_input_tokens") or 0)
    cache_write = max(cache_write, write_1h + int(by_ttl.get("ephemeral_5m_input_tokens") or 0))
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0) + cache_read + cache_write,
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=write_1h,
    )


class _AnthropicParts:
    """Anthropic's content blocks, for the message folding it shares with Gemini."""

    assistant_role = "assistant"

    def text_part(self, text: str) -> Part:
        return {"type": "text", "text": text}

    def image_part(self, url: str) -> Part:
        inline = parse_data_url(url)
        if inline:
            media_type, data = inline
            return {
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data},
            }
        return {"type": "image", "source": {"type": "url", "url": url}}

    def tool_call_part(self, call: ToolCall) -> Part:
        return {
            "type": "tool_use",
            "id": call.id or new_id("toolu_"),
            "name": call.name,
            "input": call.arguments,
        }

    def tool_result_part(self, message: Mapping[str, Any], call_name: str | None) -> Part:
        result: Part = {"type": "tool_result", "tool_use_id": message.get("tool_call_id", "")}
        blocks = content_parts(message.get("content"), self)
        if blocks:
            result["content"] = blocks
        return result

    def cache_marked(self, part: Part, cache_control: Mapping[str, Any]) -> Part:
        return {**part, "cache_control": copy.deepcopy(dict(cache_control))}


_PARTS = _AnthropicParts()


def system_blocks(messages: Any) -> list[Part] | None:
    """The system and developer messages as text blocks, when one of them (or one of their
    parts) sets a `cache_control` breakpoint; None otherwise (the system is one string)."""
    blocks: list[Part] = []
    marked = False
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer"):
            continue
        parts = content_parts(message.get("content"), _PARTS)
        marked = marked or any("cache_control" in part for part in parts)
        if isinstance(message.get("cache_control"), dict) and parts:
            marked = True
            parts[-1] = _PARTS.cache_marked(parts[-1], message["cache_control"])
        blocks.extend(part for part in parts if part.get("type") == "text")
    return blocks if marked else None


def _tool(function: Mapping[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        tool["description"] = function["description"]
    tool["input_schema"] = copy.deepcopy(function.get("parameters")) or {
        "type": "object",
        "properties": {},
    }
    return tool


def _tool_cache_control(body: Mapping[str, Any], function: Mapping[str, Any]) -> Any:
    """The `cache_control` set on the OpenAI tool entry whose function this is."""
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and tool.get("function") is function:
            cache_control = tool.get("cache_control")
            return cache_control if isinstance(cache_control, dict) else None
    return None


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        result = {"type": "none"}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        result = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise unsupported("unsupported tool_choice")
    if parallel is False:
        result = result or {"type": "auto"}
        if result["type"] != "none":
            result["disable_parallel_tool_use"] = True
    return result


def _add_response_format(
    payload: dict[str, Any], system: list[Any], response_format: Mapping[str, Any]
) -> None:
    """JSON mode is an instruction appended to the system text; a schema is `output_config`."""
    if response_format.get("type") == "json_object":
        system.append(JSON_OBJECT_INSTRUCTION)
    elif response_format.get("type") == "json_schema":
        payload["output_config"] = {
            "format": {"type": "json_schema", "schema": json_schema(response_format)}
        }


def _add_sampling(payload: dict[str, Any], body: Mapping[str, Any]) -> None:
    if body.get("temperature") is not None:
        # Anthropic's range is 0..1 (OpenAI's 0..2); newer Claude models refuse
        # temperature and top_p together, so temperature wins.
        payload["temperature"] = min(max(float(body["temperature"]), 0.0), 1.0)
    elif body.get("top_p") is not None:
        payload["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        payload["stop_sequences"] = stop_sequences(stop)


def _add_thinking(payload: dict[str, Any], body: Mapping[str, Any]) -> None:
    """`reasoning_effort` as a thinking budget (llm/providers/reasoning.py); thinking takes
    Anthropic's default sampling only."""
    thinking = anthropic_thinking(body, max_tokens=payload["max_tokens"])
    if thinking is None:
        return
    payload["thinking"] = thinking
    if thinking["type"] == "enabled":
        payload.pop("temperature", None)
        payload.pop("top_p", None)


def _add_tools(payload: dict[str, Any], body: Mapping[str, Any]) -> None:
    """The function tools (a tool's `cache_control` kept), and the tool choice only when there
    are tools to choose from."""
    tools = []
    for function in function_definitions(body):
        tool = _tool(function)
        cache_control = _tool_cache_control(body, function)
        if cache_control is not None:
            tool = _PARTS.cache_marked(tool, cache_control)
        tools.append(tool)
    if tools:
        payload["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice:
            payload["tool_choice"] = choice


class AnthropicMessagesAdapter:
    wire_format = "anthropic_messages"

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
        require_single_choice(body)
        texts, turns = fold_messages(body.get("messages"), _PARTS)
        payload: dict[str, Any] = {
            "model": model_id,
            "messages": [{"role": role, "content": parts} for role, parts in turns],
            "max_tokens": int(max_output_tokens(body) or DEFAULT_MAX_TOKENS),
        }
        blocks = system_blocks(body.get("messages"))
        if blocks is None:
            _add_response_format(payload, texts, body.get("response_format") or {})
            if texts:
                payload["system"] = "\n\n".join(texts)
        else:  # blocks keep their cache breakpoints; the JSON instruction is one more block
            extra: list[Any] = []
            _add_response_format(payload, extra, body.get("response_format") or {})
            payload["system"] = blocks + [_PARTS.text_part(text) for text in extra]
        _add_sampling(payload, body)
        _add_thinking(payload, body)
        _add_tools(payload, body)
        if isinstance(body.get("user"), str) and body["user"]:
            payload["metadata"] = {"user_id": body["user"]}
        if stream:
            payload["stream"] = True
        headers = request_headers(
            stream=stream,
            auth_style=auth_style,
            api_key=api_key,
            extra={"anthropic-version": ANTHROPIC_VERSION},
        )
        return UpstreamRequest(
            method="POST", url=base_url.rstrip("/") + "/v1/messages", headers=headers, json=payload
        )

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> ChatResult:
        content = payload.get("content")
        if not isinstance(content, list):
            raise ProviderError(
                "upstream response has no content", kind="malformed", retryable=True
            )
        texts = []
        tool_calls = []
        thoughts = []
        for block in content:
            if block.get("type") == "thinking":
                thoughts.append(str(block.get("thinking", "")))
            elif block.get("type") == "text":
                texts.append(block.get("text", ""))
            elif block.get("type") == "tool_use":
                tool_calls.append(
                    openai_tool_call(block.get("id"), block.get("name", ""), block.get("input"))
                )
        return chat_completion(
            upstream_id=payload.get("id"),
            model=model,
            text="".join(texts) if texts else None,
            tool_calls=tool_calls,
            finish_reason=FINISH_REASONS.get(payload.get("stop_reason") or "", "stop"),
            usage=usage_from_anthropic(payload.get("usage")),
            reasoning="".join(thoughts) if thoughts else None,
        )

    def stream_parser(self, *, model: str, request_id: str) -> "AnthropicStreamParser":
        return AnthropicStreamParser(model=model, request_id=request_id)

    def map_error(self, *, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        message, err_type = error_fields(body)
        lowered = (message or "").lower()
        return make_error(
            status=status,
            message=message,
            headers=headers,
            context_length=status in (400, 413)
            and any(signal in lowered for signal in CONTEXT_LENGTH_SIGNALS),
            auth=err_type in ("authentication_error", "permission_error"),
            quota=err_type == "billing_error" or any(s in lowered for s in CREDIT_SIGNALS),
        )


def error_fields(body: bytes | str) -> tuple[str | None, str | None]:
    """(message, error type) of `{"type": "error", "error": {"type", "message"}}`."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None
    message = error.get("message")
    return (str(message) if message else None, error.get("type"))


class AnthropicStreamParser(BaseStreamParser):
    """message_start, content_block_start/delta/stop, message_delta, message_stop (+ ping)."""

    def __init__(self, *, model: str, request_id: str) -> None:
        super().__init__(model=model, request_id=request_id)
        self._tool_index: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self._raw_usage: dict[str, Any] = {}

    def _update_usage(self, raw: Mapping[str, Any] | None) -> None:
        if raw:
            self._raw_usage.update({k: v for k, v in raw.items() if v is not None})
            self._reported = usage_from_anthropic(self._raw_usage)

    def _on_event(self, event: str | None, data: str) -> list[dict[str, Any]]:
        payload = self._load_event(data)
        kind = payload.get("type") or event
        if kind == "message_start":
            self._update_usage((payload.get("message") or {}).get("usage"))
            return [self._chunk({"content": ""})]
        if kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "tool_use":
                tool_index = len(self._tool_index)
                self._tool_index[payload.get("index", 0)] = tool_index
                call = {
                    "index": tool_index,
                    "id": block.get("id") or new_id("call_"),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "thinking_delta" and delta.get("thinking"):
                return [self._chunk({"reasoning_content": delta["thinking"]})]
            if delta.get("type") == "input_json_delta":
                call_index = self._tool_index.get(payload.get("index", 0))
                if call_index is None or not delta.get("partial_json"):
                    return []
                call = {"index": call_index, "function": {"arguments": delta["partial_json"]}}
                return [self._chunk({"tool_calls": [call]})]
            return []  # signature and citation deltas have no OpenAI counterpart
        if kind == "message_delta":
            self._update_usage(payload.get("usage"))
            stop_reason = (payload.get("delta") or {}).get("stop_reason")
            if stop_reason:
                return [self._chunk({}, finish_reason=FINISH_REASONS.get(stop_reason, "stop"))]
            return []
        if kind == "message_stop":
            self.finished = True
            self.usage_complete = True
            return []
        if kind == "error":
            error = payload.get("error") or {}
            status = STREAM_ERROR_STATUS.get(str(error.get("type")), 500)
            mapped = make_error(
                status=status,
                message=error.get("message"),
                headers={},
                context_length=any(
                    s in str(error.get("message", "")).lower() for s in CONTEXT_LENGTH_SIGNALS
                ),
            )
            mapped.usage = self.usage
            raise mapped
        return []  # ping and event types added later
