"""An Anthropic Messages request (`POST /v1/messages`) as the gateway's internal chat shape.

The gateway routes, budgets and meters OpenAI-shaped chat requests, so a Messages request is
translated at the edge: system blocks become a system message, `tool_use` blocks assistant
tool calls, `tool_result` blocks tool messages (before the rest of their user turn, as OpenAI
wants them right after the calls), images `image_url` parts, tools and tool choice their OpenAI
forms, `stop_sequences` `stop`, `metadata.user_id` `user`, `thinking` `reasoning_effort`.
The request as the client sent it rides along under NATIVE_KEY: when an Anthropic model serves
it, the adapter sends that instead (thinking, cache breakpoints, server tools, top_k: nothing
lost); no other adapter reads it.
"""

import copy
import json
from collections.abc import Mapping
from typing import Any

from llm.providers.reasoning import effort_from_thinking

NATIVE_KEY = "x_anthropic_messages"
# What a native request may carry upstream (the rest of a client body is dropped).
NATIVE_FIELDS = (
    "messages",
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "output_config",
)
HINT_KEYS = ("task", "tags")  # Tollgate's routing hints in `metadata`: not Anthropic's


class InboundError(ValueError):
    """The Messages request is malformed; `param` names the field (Anthropic: 400)."""

    def __init__(self, message: str, *, param: str):
        super().__init__(message)
        self.message = message
        self.param = param


def messages_to_chat(body: Mapping[str, Any], *, counting: bool = False) -> dict[str, Any]:
    """The chat body of a Messages request; `counting` (count_tokens) needs no max_tokens."""
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise InboundError("messages: Field required (a non-empty list)", param="messages")
    max_tokens = body.get("max_tokens")
    if not counting and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise InboundError("max_tokens: Field required (a positive integer)", param="max_tokens")
    chat: dict[str, Any] = {"model": body.get("model"), "messages": _system(body.get("system"))}
    for position, message in enumerate(body["messages"]):
        chat["messages"].extend(_message(message, position))
    if max_tokens is not None:
        chat["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])
    _tools(chat, body)
    effort = effort_from_thinking(body.get("thinking"))
    if effort not in (None, "none"):  # for reasoning models (llm/providers/reasoning.py)
        chat["reasoning_effort"] = effort
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    if isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        chat["user"] = metadata["user_id"]
    hints = {key: metadata[key] for key in HINT_KEYS if key in metadata}
    if hints:
        chat["metadata"] = hints
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    chat[NATIVE_KEY] = native_body(body)
    return chat


def native_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The client's request as Anthropic takes it: known fields only, hints out of metadata."""
    native = {name: copy.deepcopy(body[name]) for name in NATIVE_FIELDS if name in body}
    metadata = native.get("metadata")
    if isinstance(metadata, dict):
        native["metadata"] = {k: v for k, v in metadata.items() if k not in HINT_KEYS}
        if not native["metadata"]:
            del native["metadata"]
    return native


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise InboundError("system: must be a string or a list of text blocks", param="system")
    parts = [_text_part(block, "system") for block in system]
    return [{"role": "system", "content": parts}] if parts else []


def _text_part(block: Any, where: str) -> dict[str, Any]:
    if not isinstance(block, dict) or block.get("type") != "text":
        raise InboundError(f"{where}: only text blocks are allowed here", param=where)
    part: dict[str, Any] = {"type": "text", "text": str(block.get("text", ""))}
    if isinstance(block.get("cache_control"), dict):
        part["cache_control"] = block["cache_control"]
    return part


def _message(message: Any, position: int) -> list[dict[str, Any]]:
    where = f"messages.{position}"
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise InboundError(f"{where}.role: must be 'user' or 'assistant'", param="messages")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": message["role"], "content": content}]
    if not isinstance(content, list):
        raise InboundError(f"{where}.content: must be a string or a list", param="messages")
    if message["role"] == "assistant":
        return [_assistant(content, where)]
    return _user(content, where)


def _assistant(blocks: list, where: str) -> dict[str, Any]:
    """Text blocks become the content, tool_use blocks the tool calls; thinking is dropped
    (another provider cannot verify Anthropic's signatures)."""
    texts, calls = [], []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name", "")),
                        "arguments": json.dumps(block.get("input") or {}),
                    },
                }
            )
        elif kind not in ("thinking", "redacted_thinking"):
            raise InboundError(f"{where}: unsupported assistant block {kind!r}", param="messages")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(blocks: list, where: str) -> list[dict[str, Any]]:
    """Tool results first (as tool messages), then the turn's text and images."""
    results, parts = [], []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            results.append(_tool_result(block))
        elif kind == "text":
            parts.append(_text_part(block, where))
        elif kind == "image":
            parts.append(_image(block, where))
        else:
            raise InboundError(f"{where}: unsupported content block {kind!r}", param="messages")
    if parts:
        results.append({"role": "user", "content": parts})
    return results


def _image(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url" and source.get("url"):
        url = str(source["url"])
    else:
        raise InboundError(f"{where}: image source must be base64 or url", param="messages")
    part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if isinstance(block.get("cache_control"), dict):
        part["cache_control"] = block["cache_control"]
    return part


def _tool_result(block: Mapping[str, Any]) -> dict[str, Any]:
    content = block.get("content")
    if isinstance(content, list):
        text = "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    else:
        text = "" if content is None else str(content)
    if block.get("is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}


def _tools(chat: dict[str, Any], body: Mapping[str, Any]) -> None:
    """Custom tools as OpenAI functions; Anthropic's server tools (web search, bash...) have no
    counterpart and are served only natively."""
    tools = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
            continue
        function = {"name": str(tool.get("name", ""))}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object"}
        tools.append({"type": "function", "function": function})
    if not tools:
        return
    chat["tools"] = tools
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "tool" and choice.get("name"):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind in ("auto", "any", "none"):
        chat["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if choice.get("disable_parallel_tool_use"):
        chat["parallel_tool_calls"] = False
