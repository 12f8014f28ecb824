"""The client's side of a streamed answer: a bounded queue the stream pump fills and the
response body drains in bursts, a copy of what was sent (the transcript an Idempotency-Key
replays), and the switch that stops feeding a client that went away."""

import asyncio
from collections.abc import AsyncGenerator

MAX_STORED_STREAM_BYTES = 2 * 1024 * 1024  # a longer stream is neither replayed nor cached


class ClientFeed:
    def __init__(self, *, keep_transcript: bool) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)
        self.client_gone = False
        self.transcript: list[bytes] | None = [] if keep_transcript else None
        self.transcript_size = 0

    async def client_iter(self) -> AsyncGenerator[bytes, None]:
        """Events already queued go out in one write: a burst from upstream costs the client
        one send, while an event that arrives alone is still sent at once."""
        finished = False
        try:
            while not finished:
                item = await self.queue.get()
                if item is None:
                    finished = True
                    return
                burst = [item]
                while not self.queue.empty():
                    item = self.queue.get_nowait()
                    if item is None:
                        finished = True
                        break
                    burst.append(item)
                yield b"".join(burst)
        finally:
            if not finished:
                self.abandon()

    def abandon(self) -> None:
        """The client is gone: the pump keeps reading upstream for billing, stop queueing."""
        self.client_gone = True
        while not self.queue.empty():
            self.queue.get_nowait()

    async def emit(self, data: bytes) -> None:
        if self.transcript is not None:
            self.transcript.append(data)
            self.transcript_size += len(data)
            if self.transcript_size > MAX_STORED_STREAM_BYTES:
                self.transcript = None
        if not self.client_gone:
            await self.queue.put(data)

    async def end(self) -> None:
        """Tell the client's iterator that nothing more comes."""
        await self.queue.put(None)
