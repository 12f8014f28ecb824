"""The OpenAI response shapes the translating adapters build from their providers' answers."""

import json
import time
from typing import Any

from llm.providers.contract import ChatResult, Usage
from llm.providers.wire_helpers import new_id


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    """OpenAI's `usage` object, the same in responses, usage chunks and the gateway's errors."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def openai_tool_call(call_id: str | None, name: str, arguments: Any) -> dict[str, Any]:
    """A provider's tool call (arguments as an object) as OpenAI's, arguments a JSON string."""
    return {
        "id": call_id or new_id("call_"),
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments or {})},
    }


def chat_completion(
    *,
    upstream_id: str | None,
    model: str,
    text: str | None,
    tool_calls: list[dict[str, Any]],
    finish_reason: str,
    usage: Usage,
    reasoning: str | None = None,
) -> ChatResult:
    """A one-choice chat.completion. `text` None: the reply had no text, so content is null when
    it is made of tool calls and "" when it is empty. `reasoning`: the thinking the provider
    showed, as `reasoning_content` (the field peers and DeepSeek use)."""
    content = text if text is not None else (None if tool_calls else "")
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": f"chatcmpl-{upstream_id}" if upstream_id else new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage_to_openai(usage),
    }
    return ChatResult(body=body, usage=usage)
