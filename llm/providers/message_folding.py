"""OpenAI messages folded into the turns of a wire format with two roles (Anthropic, Gemini).

System and developer messages leave the conversation (their texts come back apart); user,
assistant and tool messages become parts of a turn, and consecutive parts of one role merge into
one turn, because all results of one assistant turn must arrive in the single user turn that
follows it. What a part looks like is the wire format's business: its `FoldingStyle`.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from llm.providers.errors import unsupported
from llm.providers.wire_helpers import text_of

Part = dict[str, Any]
Turn = tuple[str, list[Part]]  # (role, parts)


@dataclass(frozen=True)
class ToolCall:
    """One tool call of an assistant message, its arguments already parsed into an object."""

    id: str | None
    name: str
    arguments: dict[str, Any]
    position: int  # its place among the calls of its message


class FoldingStyle(Protocol):
    """The parts of one wire format; the walk over the messages is the same for every format."""

    assistant_role: str

    def text_part(self, text: str) -> Part: ...

    def image_part(self, url: str) -> Part: ...

    def tool_call_part(self, call: ToolCall) -> Part: ...

    def tool_result_part(self, message: Mapping[str, Any], call_name: str | None) -> Part:
        """A tool message; `call_name` names the earlier call it answers, when there is one."""
        ...

    def cache_marked(self, part: Part, cache_control: Mapping[str, Any]) -> Part:
        """`part` with the client's prompt-cache breakpoint, where the format has them."""
        ...


def fold_messages(messages: Any, style: FoldingStyle) -> tuple[list[str], list[Turn]]:
    """(system texts, turns) of an OpenAI `messages` list, in the parts of `style`."""
    if not isinstance(messages, list) or not messages:
        raise unsupported("messages must be a non-empty list")
    system: list[str] = []
    turns: list[Turn] = []
    call_names: dict[Any, str] = {}  # tool call id -> function name, for the tool messages
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = text_of(content)
            if text:
                system.append(text)
        elif role == "user":
            _add(turns, "user", _marked(message, content_parts(content, style), style))
        elif role == "assistant":
            parts = _assistant_parts(message, style, call_names)
            _add(turns, style.assistant_role, _marked(message, parts, style))
        elif role == "tool":
            call_name = call_names.get(message.get("tool_call_id", ""))
            parts = [style.tool_result_part(message, call_name)]
            _add(turns, "user", _marked(message, parts, style))
        else:
            raise unsupported(f"message role {role!r} is not supported")
    if not turns:
        raise unsupported("at least one user message is required")
    return system, turns


def _marked(message: Mapping[str, Any], parts: list[Part], style: FoldingStyle) -> list[Part]:
    """A message-level `cache_control` marks the message's last part (a breakpoint ends there)."""
    cache_control = message.get("cache_control")
    if isinstance(cache_control, dict) and parts:
        parts[-1] = style.cache_marked(parts[-1], cache_control)
    return parts


def _add(turns: list[Turn], role: str, parts: list[Part]) -> None:
    """Parts join the last turn when it has the same role, else open a new one."""
    if not parts:
        return
    if turns and turns[-1][0] == role:
        turns[-1][1].extend(parts)
    else:
        turns.append((role, parts))


def _assistant_parts(
    message: Mapping[str, Any], style: FoldingStyle, call_names: dict[Any, str]
) -> list[Part]:
    """The assistant's content parts, then one part per tool call (whose names are recorded)."""
    parts = content_parts(message.get("content"), style)
    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        name = function.get("name", "")
        call_names[call.get("id", "")] = name
        arguments = tool_arguments_object(function.get("arguments"))
        parts.append(style.tool_call_part(ToolCall(call.get("id"), name, arguments, position)))
    return parts


def content_parts(content: Any, style: FoldingStyle) -> list[Part]:
    """A message `content` (a string or a list of parts) as the style's text and image parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [style.text_part(content)] if content else []
    parts = []
    for part in content:
        kind = part.get("type")
        if kind in ("text", "input_text"):
            if not part.get("text"):
                continue
            made = style.text_part(part["text"])
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not url:
                raise unsupported("image_url part without a url")
            made = style.image_part(url)
        else:
            raise unsupported(f"content part type {kind!r} is not supported for this model")
        if isinstance(part.get("cache_control"), dict):
            made = style.cache_marked(made, part["cache_control"])
        parts.append(made)
    return parts


def tool_arguments_object(arguments: Any) -> dict[str, Any]:
    """OpenAI tool-call arguments (a JSON string) as the object Anthropic and Gemini expect."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        parsed = json.loads(arguments)
    except ValueError:
        raise unsupported("tool call arguments must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise unsupported("tool call arguments must be a JSON object")
    return parsed
