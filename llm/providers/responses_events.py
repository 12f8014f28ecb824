"""A stream of chat.completion chunks as the Responses API's stream events.

One output item is open at a time: reasoning deltas go to a `reasoning` item (its summary),
text deltas to a `message` item (one output_text part), each tool call to a `function_call`
item of its own. The chat stream's end (`[DONE]`) closes the open item and sends
`response.completed` (or `response.incomplete` when the answer hit its token limit) with the
whole response and its usage. Native events pass as they are, and then nothing is translated
(the upstream's events are the whole answer). Every event carries its `sequence_number`.
"""

import time
from collections.abc import Mapping
from typing import Any

from llm.providers.responses_outbound import (
    NATIVE_EVENT,
    call_item,
    error_payload,
    message_item,
    reasoning_item,
    response_object,
    responses_usage,
    sse,
    status_of,
    text_part,
)


class ResponsesEventWriter:
    """Chat chunks in (decoded SSE data, in order), Responses events out (bytes)."""

    def __init__(self, *, request_id: str, request: Mapping[str, Any]) -> None:
        self.request_id = request_id
        self.request = request
        self.sequence = 0
        self.started = False
        self.native = False
        self.finished = False
        self.model = ""
        self.created_at = int(time.time())
        self.output: list[dict[str, Any]] = []  # finished items
        self.open: dict[str, Any] | None = None  # the item being streamed
        self.slot: tuple[str, int] | None = None  # ("text", 0), ("reasoning", 0), ("tool", i)
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] | None = None

    def chunk(self, chunk: Mapping[str, Any]) -> bytes:
        native = chunk.get(NATIVE_EVENT)
        if isinstance(native, dict):
            self.native = True
            self.finished = self.finished or native.get("type") in (
                "response.completed",
                "response.incomplete",
                "response.failed",
            )
            return sse(native)
        if isinstance(chunk.get("error"), dict):
            return self.error(str(chunk["error"].get("message") or "upstream error"))
        if self.native:
            return b""
        out = [self._start(chunk)]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out.append(self._reasoning(str(delta["reasoning_content"])))
            if delta.get("content"):
                out.append(self._text(str(delta["content"])))
            for call in delta.get("tool_calls") or ():
                out.append(self._tool(call))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return b"".join(out)

    def done(self) -> bytes:
        """The chat stream ended: close the response (a native stream closed itself)."""
        if self.native or self.finished:
            return b""
        self.finished = True
        out = [self._start({}), self._close()]
        status = status_of(self.finish_reason)
        response = self._response(status, usage=responses_usage(self.usage))
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        out.append(self._event(kind, response=response))
        return b"".join(out)

    def error(self, message: str) -> bytes:
        self.finished = True
        payload = error_payload(message=message)
        payload["sequence_number"] = self._next()
        return sse(payload)

    # --- events ------------------------------------------------------------------------------

    def _next(self) -> int:
        number = self.sequence
        self.sequence += 1
        return number

    def _event(self, kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": self._next(), **fields})

    def _response(self, status: str, *, usage: dict[str, Any] | None) -> dict[str, Any]:
        return response_object(
            request_id=self.request_id,
            request=self.request,
            model=self.model,
            status=status,
            output=list(self.output),
            usage=usage,
            created_at=self.created_at,
        )

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        if self.started:
            return b""
        self.started = True
        self.model = str(chunk.get("model", ""))
        response = self._response("in_progress", usage=None)
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def _index(self) -> int:
        return len(self.output)

    def _open_item(self, slot: tuple[str, int], item: dict[str, Any]) -> bytes:
        closed = self._close()
        self.slot, self.open = slot, item
        added = {**item}
        if item["type"] == "reasoning":
            added["summary"] = []
        return closed + self._event(
            "response.output_item.added", output_index=self._index(), item=added
        )

    def _reasoning(self, text: str) -> bytes:
        out = b""
        if self.slot != ("reasoning", 0):
            item = reasoning_item(f"rs_{self.request_id}_{self._index()}", "")
            out = self._open_item(("reasoning", 0), item)
            out += self._event(
                "response.reasoning_summary_part.added",
                item_id=item["id"],
                output_index=self._index(),
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        assert self.open is not None
        self.open["summary"][0]["text"] += text
        return out + self._event(
            "response.reasoning_summary_text.delta",
            item_id=self.open["id"],
            output_index=self._index(),
            summary_index=0,
            delta=text,
        )

    def _text(self, text: str) -> bytes:
        out = b""
        if self.slot != ("text", 0):
            item = message_item(f"msg_{self.request_id}_{self._index()}", "", "in_progress")
            out = self._open_item(("text", 0), item)
            out += self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=self._index(),
                content_index=0,
                part=text_part(""),
            )
            item["content"] = [text_part("")]
        assert self.open is not None
        self.open["content"][0]["text"] += text
        return out + self._event(
            "response.output_text.delta",
            item_id=self.open["id"],
            output_index=self._index(),
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _tool(self, call: Mapping[str, Any]) -> bytes:
        slot = ("tool", int(call.get("index", 0)))
        function = call.get("function") or {}
        out = b""
        if self.slot != slot:
            position = self._index()
            call_id = str(call.get("id") or f"call_{self.request_id}_{slot[1]}")
            item = call_item(
                f"fc_{self.request_id}_{position}",
                call_id,
                str(function.get("name", "")),
                "",
                "in_progress",
            )
            out = self._open_item(slot, item)
        assert self.open is not None
        if function.get("arguments"):
            self.open["arguments"] += function["arguments"]
            out += self._event(
                "response.function_call_arguments.delta",
                item_id=self.open["id"],
                output_index=self._index(),
                delta=function["arguments"],
            )
        return out

    def _close(self) -> bytes:
        item, self.open, self.slot = self.open, None, None
        if item is None:
            return b""
        index, out = self._index(), []
        if item["type"] == "reasoning":
            part = item["summary"][0]
            ids = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            out.append(
                self._event("response.reasoning_summary_text.done", **ids, text=part["text"])
            )
            out.append(self._event("response.reasoning_summary_part.done", **ids, part=part))
        elif item["type"] == "message":
            part = item["content"][0]
            ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
            out.append(
                self._event("response.output_text.done", **ids, text=part["text"], logprobs=[])
            )
            out.append(self._event("response.content_part.done", **ids, part=part))
            item["status"] = "completed"
        else:
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
            item["status"] = "completed"
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        self.output.append(item)
        return b"".join(out)
