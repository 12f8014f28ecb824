"""OpenAI's Responses API on the wire (`POST /v1/responses`), plain and streamed.

A plain answer is a `response` object; a stream is `event: <type>` / `data: {...}` frames, each
with its `sequence_number`: response.created, response.in_progress, then per output item
output_item.added, (content_part.added, output_text.delta..., output_text.done,
content_part.done | function_call_arguments.delta..., function_call_arguments.done),
output_item.done, and response.completed with the usage. No `[DONE]` line. With
`Ok.reasoning_tokens` the output starts with a reasoning item (a summary when asked for).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.support.mock_upstreams.behaviours import Ok, RecordedRequest, TruncatedStream
from tests.support.mock_upstreams.content import arguments_text, split_text, word_pieces
from tests.support.mock_upstreams.wire import Reply, json_reply

# Request fields the API accepts; like the real API, the mock refuses anything else.
RESPONSES_FIELDS = {
    "model", "input", "instructions", "tools", "tool_choice", "max_output_tokens",
    "max_tool_calls", "temperature", "top_p", "top_logprobs", "parallel_tool_calls", "user",
    "safety_identifier", "prompt_cache_key", "metadata", "text", "reasoning", "store",
    "previous_response_id", "conversation", "background", "include", "truncation",
    "service_tier", "prompt", "stream", "stream_options",
}  # fmt: skip


def validate(request: RecordedRequest) -> str | None:
    body = request.json
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    unknown = sorted(set(body) - RESPONSES_FIELDS)
    if unknown:
        return f"Unknown parameter: '{unknown[0]}'."
    if not body.get("model"):
        return "Missing required parameter: 'model'."
    if "input" not in body and not body.get("previous_response_id"):
        return "Missing required parameter: 'input'."
    return None


def _usage(ok: Ok | TruncatedStream) -> dict[str, Any]:
    return {
        "input_tokens": ok.input_tokens,
        "input_tokens_details": {"cached_tokens": ok.cached_tokens},
        "output_tokens": ok.output_tokens,
        "output_tokens_details": {"reasoning_tokens": ok.reasoning_tokens},
        "total_tokens": ok.input_tokens + ok.output_tokens,
    }


def _items(ok: Ok | TruncatedStream, body: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if ok.reasoning_tokens:
        summary = []
        if (body.get("reasoning") or {}).get("summary"):
            summary = [{"type": "summary_text", "text": "Thought it through."}]
        items.append({"id": f"rs_{uuid.uuid4().hex[:24]}", "type": "reasoning", "summary": summary})
    tool_call = getattr(ok, "tool_call", None)
    if tool_call:
        items.append(
            {
                "id": f"fc_{uuid.uuid4().hex[:24]}",
                "type": "function_call",
                "status": "completed",
                "call_id": tool_call.get("id", "call_mock0001"),
                "name": tool_call["name"],
                "arguments": arguments_text(tool_call),
            }
        )
    else:
        items.append(
            {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": ok.content, "annotations": [], "logprobs": []}
                ],
            }
        )
    return items


def _response(
    body: dict[str, Any], *, response_id: str, status: str, output: list, usage: dict | None
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": f"{body['model']}-2025-01-01",
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": body.get("user"),
        "metadata": body.get("metadata", {}),
    }


def ok_reply(ok: Ok, request: RecordedRequest) -> Reply:
    body = request.json
    response = _response(
        body,
        response_id=f"resp_{uuid.uuid4().hex}",
        status="completed",
        output=_items(ok, body),
        usage=_usage(ok),
    )
    return json_reply(200, response, {"x-request-id": f"req_{uuid.uuid4().hex[:16]}"})


class _Frames:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def add(self, kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": len(self.frames), **fields}
        self.frames.append(f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode())


def stream_frames(ok: Ok | TruncatedStream, request: RecordedRequest) -> tuple[list[bytes], int]:
    """(frames, index of the first content frame)."""
    body = request.json
    response_id = f"resp_{uuid.uuid4().hex}"
    out = _Frames()
    start = _response(body, response_id=response_id, status="in_progress", output=[], usage=None)
    out.add("response.created", response=start)
    out.add("response.in_progress", response=start)
    first_content = None
    items = _items(ok, body)
    for index, item in enumerate(items):
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            out.add("response.output_item.added", output_index=index, item={**item, "content": []})
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out.add("response.content_part.added", **ids, content_index=0, part=part)
            first_content = len(out.frames) if first_content is None else first_content
            for piece in word_pieces(ok.content):
                out.add(
                    "response.output_text.delta", **ids, content_index=0, delta=piece, logprobs=[]
                )
            text = item["content"][0]["text"]
            out.add("response.output_text.done", **ids, content_index=0, text=text, logprobs=[])
            out.add("response.content_part.done", **ids, content_index=0, part=item["content"][0])
        elif item["type"] == "function_call":
            out.add(
                "response.output_item.added",
                output_index=index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            first_content = len(out.frames) if first_content is None else first_content
            for piece in split_text(item["arguments"]):
                out.add("response.function_call_arguments.delta", **ids, delta=piece)
            out.add("response.function_call_arguments.done", **ids, arguments=item["arguments"])
        else:
            out.add("response.output_item.added", output_index=index, item=item)
        out.add("response.output_item.done", output_index=index, item=item)
    final = _response(
        body, response_id=response_id, status="completed", output=items, usage=_usage(ok)
    )
    out.add("response.completed", response=final)
    return out.frames, first_content or 2
