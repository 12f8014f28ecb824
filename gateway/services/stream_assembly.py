"""The chat.completion a stream adds up to (content and tool-call deltas joined), so a streamed
answer can fill the response cache like a plain one."""

from typing import Any

from llm.providers.contract import Usage
from llm.providers.openai_shapes import usage_to_openai


class AssembledCompletion:
    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict] = {}
        self.size = 0  # characters of content and tool arguments so far

    def add(self, chunk: dict[str, Any]) -> None:
        if not self.head and chunk.get("id"):
            self.head = {k: chunk.get(k) for k in ("id", "created", "model")}
        for choice in chunk.get("choices") or ():
            slot = self.choices.setdefault(
                choice.get("index", 0), {"content": [], "calls": {}, "finish_reason": None}
            )
            delta = choice.get("delta") or {}
            if delta.get("content"):
                slot["content"].append(delta["content"])
                self.size += len(delta["content"])
            for call in delta.get("tool_calls") or ():
                self._add_call(slot, call)
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]

    def _add_call(self, slot: dict, call: dict[str, Any]) -> None:
        entry = slot["calls"].setdefault(
            call.get("index", 0), {"id": "", "name": "", "arguments": []}
        )
        function = call.get("function") or {}
        entry["id"] = call.get("id") or entry["id"]
        entry["name"] = function.get("name") or entry["name"]
        if function.get("arguments"):
            entry["arguments"].append(function["arguments"])
            self.size += len(function["arguments"])

    def completion(self, *, usage: Usage) -> dict[str, Any]:
        choices = []
        for index, slot in sorted(self.choices.items()):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(slot["content"]) or None,
            }
            if slot["calls"]:
                message["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
                    }
                    for _, call in sorted(slot["calls"].items())
                ]
            choices.append(
                {"index": index, "message": message, "finish_reason": slot["finish_reason"]}
            )
        return {
            **self.head,
            "object": "chat.completion",
            "choices": choices,
            "usage": usage_to_openai(usage),
        }
