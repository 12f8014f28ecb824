"""Anthropic prompt-caching markers (`cache_control`) in an OpenAI-shaped chat body.

Clients put them on content parts, messages and tools (Anthropic's convention, which the
Anthropic adapter and OpenRouter read). Strict OpenAI-compatible vendors refuse a request with
a field they do not know, so for a provider whose catalog entry does not accept them
(`features.cache_control`) they are taken out before the body is sent.
"""

from collections.abc import Mapping
from typing import Any

MARKER = "cache_control"


def _marked_part(part: Any) -> bool:
    return isinstance(part, dict) and MARKER in part


def has_cache_control(body: Mapping[str, Any]) -> bool:
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        if MARKER in message:
            return True
        content = message.get("content")
        if isinstance(content, list) and any(map(_marked_part, content)):
            return True
    return any(map(_marked_part, body.get("tools") or ()))


def _unmarked(item: Any) -> Any:
    if isinstance(item, dict) and MARKER in item:
        return {key: value for key, value in item.items() if key != MARKER}
    return item


def without_cache_control(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """`body` without its markers: the same object when it has none, else a shallow copy whose
    marked messages, parts and tools are new dicts (the client's body is never changed)."""
    if not has_cache_control(body):
        return body
    messages = []
    for message in body.get("messages") or ():
        message = _unmarked(message)
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(map(_marked_part, content)):
            message = {**message, "content": [_unmarked(part) for part in content]}
        messages.append(message)
    stripped = {**body, "messages": messages}
    if body.get("tools"):
        stripped["tools"] = [_unmarked(tool) for tool in body["tools"]]
    return stripped
