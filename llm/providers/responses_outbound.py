"""The gateway's answers in the Responses API's shape: a chat.completion as a `response`, a
stream of chat.completion chunks as the Responses stream events, an error as an `error` event.

When an OpenAI model served the request natively, its own answer rides along (NATIVE_KEY on
the completion, NATIVE_EVENT on each chunk) and is passed on as it came; otherwise the chat
shape is translated: reasoning to a `reasoning` item with its summary, text to a `message`
item, each tool call to a `function_call` item, usage to input/output tokens with details.
"""

import json
import time
from collections.abc import Mapping
from typing import Any

import orjson

NATIVE_KEY = "x_openai_response"  # on a chat.completion: the upstream's own response
NATIVE_EVENT = "x_openai_response_event"  # on a chunk: the upstream's own stream event
# Echoed from the request onto the response object, with the Responses API's defaults.
ECHOED = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "temperature": None,
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "truncation": "disabled",
    "user": None,
}


def responses_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """Chat usage (cache reads and writes inside prompt_tokens) in the Responses API's shape."""
    usage = usage or {}
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    input_tokens = int(usage.get("prompt_tokens") or 0)
    output_tokens = int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": int(prompt.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt.get("cache_write_tokens") or 0),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": int(completion.get("reasoning_tokens") or 0)},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    *,
    request_id: str,
    request: Mapping[str, Any],
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    created_at: int,
) -> dict[str, Any]:
    tools = [tool for tool in request.get("tools") or () if isinstance(tool, dict)]
    response: dict[str, Any] = {
        "id": f"resp_{request_id}",
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "model": model,
        "output": output,
        "previous_response_id": None,
        "reasoning": {
            "effort": (request.get("reasoning") or {}).get("effort"),
            "summary": (request.get("reasoning") or {}).get("summary"),
        },
        "store": False,
        "text": request.get("text") or {"format": {"type": "text"}},
        "usage": usage,
    }
    for name, default in ECHOED.items():
        value = request.get(name)
        response[name] = default if value is None else value
    response["tools"] = tools
    if status == "completed":
        response["completed_at"] = int(time.time())
    return response


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [] if status == "in_progress" else [text_part(text)]
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def reasoning_item(item_id: str, text: str | None) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text is not None else []
    return {"id": item_id, "type": "reasoning", "summary": summary}


def status_of(finish_reason: str | None) -> str:
    return "incomplete" if finish_reason == "length" else "completed"


def completion_to_response(
    completion: Mapping[str, Any], *, request_id: str, request: Mapping[str, Any]
) -> dict[str, Any]:
    """A chat.completion as a Responses `response` (the native one when it came along)."""
    if isinstance(completion.get(NATIVE_KEY), dict):
        return completion[NATIVE_KEY]
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        output.append(reasoning_item(f"rs_{request_id}", str(message["reasoning_content"])))
    if message.get("content") or not message.get("tool_calls"):
        output.append(message_item(f"msg_{request_id}", str(message.get("content") or "")))
    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        arguments = function.get("arguments")
        output.append(
            call_item(
                f"fc_{request_id}_{position}",
                str(call.get("id") or f"call_{request_id}_{position}"),
                str(function.get("name", "")),
                arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
            )
        )
    return response_object(
        request_id=request_id,
        request=request,
        model=str(completion.get("model", "")),
        status=status_of(choice.get("finish_reason")),
        output=output,
        usage=responses_usage(completion.get("usage")),
        created_at=int(completion.get("created") or time.time()),
    )


def sse(payload: Mapping[str, Any]) -> bytes:
    return (
        b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
    )


def error_payload(*, message: str, code: str = "upstream_error") -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "param": None}
