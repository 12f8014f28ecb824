"""The chat pipeline's SSE stream re-told in another API's events (Anthropic Messages,
OpenAI Responses): one loop for every edge, the edge supplies the writer of its own events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import orjson

from llm.providers.sse import SSEDecoder

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Mapping


class ChatEventWriter(Protocol):
    """Turns one chat chunk, or the end of the stream, into the edge's SSE bytes."""

    def chunk(self, chunk: Mapping[str, Any]) -> bytes: ...

    def done(self) -> bytes: ...


async def translated_stream(
    stream: AsyncIterator[bytes], *, writer: ChatEventWriter
) -> AsyncGenerator[bytes, None]:
    """The pipeline's chat stream (chunks, then `[DONE]` or an error chunk) in the writer's
    events; closing this closes the pipeline's stream (its clean-up bills what was made)."""
    decoder = SSEDecoder()
    try:
        async for data in stream:
            out = []
            for _event, payload in decoder.feed(data):
                if payload.strip() == "[DONE]":
                    out.append(writer.done())
                else:
                    out.append(writer.chunk(orjson.loads(payload)))
            if any(out):
                yield b"".join(out)
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
