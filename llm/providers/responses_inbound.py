"""An OpenAI Responses request (`POST /v1/responses`) as the gateway's internal chat shape.

The gateway routes, budgets and meters chat-shaped requests, so a Responses request is
translated at the edge: `instructions` become a system message, `input` items messages
(input_text / input_image parts, function_call items assistant tool calls, function_call_output
items tool messages), function tools and tool choice their chat forms, `max_output_tokens`
`max_tokens`, `text.format` `response_format`, `reasoning.effort` `reasoning_effort`.

The request as the client sent it rides along under NATIVE_KEY: an OpenAI model whose provider
speaks the Responses API is sent that instead (llm/providers/openai_responses.py), so stored
state, built-in tools and everything else pass through. What only such a model can serve is
listed under NATIVE_ONLY_KEY (feature, param): a translated model refuses the request with a
400 naming it rather than dropping it.
"""

import copy
import json
from collections.abc import Mapping
from typing import Any

NATIVE_KEY = "x_openai_responses"
NATIVE_ONLY_KEY = "x_openai_responses_native_only"
# What a native request may carry upstream (the rest of a client body is dropped).
NATIVE_FIELDS = (
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "metadata",
    "text",
    "reasoning",
    "store",
    "previous_response_id",
    "conversation",
    "background",
    "include",
    "truncation",
    "service_tier",
    "prompt",
)
HINT_KEYS = ("task", "tags")  # Tollgate's routing hints in `metadata`: not OpenAI's
_ROLES = frozenset({"user", "assistant", "system", "developer"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text"})


class InboundError(ValueError):
    """The Responses request is malformed; `param` names the field (400 invalid_request)."""

    def __init__(self, message: str, *, param: str):
        super().__init__(message)
        self.message = message
        self.param = param


class _Translation:
    """The chat messages being built and the native-only features met on the way."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.native_only: list[tuple[str, str]] = []

    def needs_native(self, feature: str, param: str) -> None:
        self.native_only.append((feature, param))


def responses_to_chat(body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat body of a Responses request (translation rules: module doc)."""
    if "input" not in body and not body.get("previous_response_id") and not body.get("prompt"):
        raise InboundError("Missing required parameter: 'input'.", param="input")
    out = _Translation()
    _check_state(body, out)
    if body.get("instructions"):
        out.messages.append({"role": "system", "content": _text_of(body["instructions"])})
    _input(body.get("input"), out)
    if not any(message["role"] != "system" for message in out.messages):
        out.messages.append({"role": "user", "content": ""})  # state-only requests (native)
    chat: dict[str, Any] = {"model": body.get("model"), "messages": out.messages}
    _options(chat, body, out)
    _tools(chat, body, out)
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    chat[NATIVE_KEY] = native_body(body)
    if out.native_only:
        chat[NATIVE_ONLY_KEY] = [list(pair) for pair in out.native_only]
    return chat


def native_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The client's request as OpenAI takes it: known fields only, hints out of metadata."""
    native = {name: copy.deepcopy(body[name]) for name in NATIVE_FIELDS if name in body}
    metadata = native.get("metadata")
    if isinstance(metadata, dict):
        native["metadata"] = {k: v for k, v in metadata.items() if k not in HINT_KEYS}
        if not native["metadata"]:
            del native["metadata"]
    return native


def native_only_feature(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first (feature, param) of a translated body that only a native model serves."""
    pairs = body.get(NATIVE_ONLY_KEY) or ()
    return (str(pairs[0][0]), str(pairs[0][1])) if pairs else None


def _check_state(body: Mapping[str, Any], out: _Translation) -> None:
    if body.get("previous_response_id"):
        out.needs_native("previous_response_id (stored conversation state)", "previous_response_id")
    if body.get("conversation"):
        out.needs_native("conversation (stored conversation state)", "conversation")
    if body.get("store") is True:
        out.needs_native("store: true (the response stored for later retrieval)", "store")
    if body.get("background") is True:
        out.needs_native("background: true (background responses)", "background")
    if body.get("prompt"):
        out.needs_native("prompt (stored prompt templates)", "prompt")


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            str(part.get("text", ""))
            for part in value
            if isinstance(part, dict) and part.get("type") in _TEXT_PARTS
        )
    return "" if value is None else str(value)


def _input(value: Any, out: _Translation) -> None:
    if value is None:
        return
    if isinstance(value, str):
        out.messages.append({"role": "user", "content": value})
        return
    if not isinstance(value, list):
        raise InboundError("'input' must be a string or a list of input items.", param="input")
    for position, item in enumerate(value):
        if not isinstance(item, dict):
            raise InboundError(f"input[{position}] must be an object.", param="input")
        kind = item.get("type") or ("message" if "role" in item else None)
        where = f"input[{position}]"
        if kind == "message":
            _message(item, where, out)
        elif kind == "function_call":
            _function_call(item, out)
        elif kind == "function_call_output":
            out.messages.append(
                {
                    "role": "tool",
                    "tool_call_id": str(item.get("call_id", "")),
                    "content": _text_of(item.get("output")),
                }
            )
        elif kind == "reasoning":
            continue  # another provider cannot use OpenAI's (encrypted) reasoning items
        else:
            out.needs_native(f"input item type {kind!r}", where)


def _message(item: Mapping[str, Any], where: str, out: _Translation) -> None:
    role = item.get("role")
    if role not in _ROLES:
        raise InboundError(f"{where}.role must be one of {', '.join(sorted(_ROLES))}.", param=where)
    content = item.get("content")
    if isinstance(content, str):
        out.messages.append({"role": role, "content": content})
        return
    if not isinstance(content, list):
        raise InboundError(f"{where}.content must be a string or a list.", param=where)
    if role != "user":
        out.messages.append({"role": role, "content": _text_of(content)})
        return
    parts = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image" and part.get("image_url"):
            image: dict[str, Any] = {"url": str(part["image_url"])}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            label = "input_image by file_id" if kind == "input_image" else f"content type {kind!r}"
            out.needs_native(label, f"{where}.content[{index}]")
    out.messages.append({"role": "user", "content": parts})


def _function_call(item: Mapping[str, Any], out: _Translation) -> None:
    """Consecutive calls join one assistant turn (and the assistant text just before them)."""
    arguments = item.get("arguments")
    call = {
        "id": str(item.get("call_id") or item.get("id") or ""),
        "type": "function",
        "function": {
            "name": str(item.get("name", "")),
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
        },
    }
    last = out.messages[-1] if out.messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        if not last.get("content"):
            last["content"] = None
        return
    out.messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _options(chat: dict[str, Any], body: Mapping[str, Any], out: _Translation) -> None:
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if isinstance(body.get("metadata"), dict):
        chat["metadata"] = dict(body["metadata"])  # routing hints (task, tags) are read here
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}


def _tools(chat: dict[str, Any], body: Mapping[str, Any], out: _Translation) -> None:
    """Function tools as chat functions; built-in tools (web search, file search, computer use,
    code interpreter, MCP...) exist only on OpenAI's side."""
    tools = []
    for index, tool in enumerate(body.get("tools") or ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            out.needs_native(f"built-in tool {kind!r}", f"tools[{index}]")
            continue
        function: dict[str, Any] = {"name": str(tool.get("name", ""))}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    if not tools:
        return
    chat["tools"] = tools
    if body.get("parallel_tool_calls") is not None:
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    choice = body.get("tool_choice")
    if choice in ("auto", "none", "required"):
        chat["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif isinstance(choice, dict):
        out.needs_native(f"tool_choice type {choice.get('type')!r}", "tool_choice")
