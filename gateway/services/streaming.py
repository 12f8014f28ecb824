"""A streamed answer: the stream opened on the first candidate that sends real content, then
pumped to its end by a task of its own.

The contract headers go out before the body, so X-Tollgate-Cost-USD on a stream is the cost
known at that moment (failed attempts the provider billed, usually 0); the final cost is in the
usage event and, when the client asks for `stream_options.include_usage`, its tokens are in the
last chunk. Fallback stays possible until the first byte goes to the client. If the client goes
away the pump keeps reading (within the deadline) so the request is billed for everything the
provider generated, then settles and records the event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.services.attempts import Served, first_answer, upstream_request
from gateway.services.background import spawn
from gateway.services.breaker import FAILURE_KINDS, breaker_record
from gateway.services.cached_answers import cache_store
from gateway.services.holds import claim_abort, claim_finish, settle_and_count
from gateway.services.metering import log_request, record_answer, usage_cost
from gateway.services.responses import SSE_DONE, GatewayResponse, sse_event, tollgate_headers
from gateway.services.stream_assembly import AssembledCompletion
from gateway.services.stream_feed import MAX_STORED_STREAM_BYTES, ClientFeed
from gateway.services.upstream_keys import error_without_key
from llm.providers.contract import ProviderError, Usage
from llm.providers.http import TRANSPORT_ERRORS, transport_error, upstream_stream_open
from llm.providers.openai_shapes import usage_to_openai

if TYPE_CHECKING:
    import httpx

    from gateway.services.context import RequestInput, RequestState
    from gateway.services.upstream_keys import UpstreamKey
    from llm.providers.contract import StreamParser
    from llm.services.routing_snapshots import ModelInfo

logger = logging.getLogger("tollgate.gateway")


@dataclass
class OpenStream:
    response: httpx.Response
    chunks: AsyncIterator[bytes]  # the raw body, past what `first` was parsed from
    parser: StreamParser
    first: list[dict[str, Any]]  # the chunks read before committing to this candidate
    first_relayed: bytes = b""  # the same, encoded, when the pump relays (`_read_preamble`)


async def run_stream(request: RequestInput, state: RequestState) -> GatewayResponse:
    served = await first_answer(request, state.log, functools.partial(_open, request))
    headers = tollgate_headers(
        state,
        model=served.model.qualified_id,
        provider=served.model.provider_slug,
        cost=state.log.billed_failed_cost,
        fallback=served.fallback,
    )
    pump = StreamPump(request, state, served, headers)
    spawn(pump.run())
    return GatewayResponse(
        status=200,
        headers=headers,
        content_type="text/event-stream",
        stream=pump.feed.client_iter(),
        abandon=pump.feed.abandon,
    )


async def _open(
    request: RequestInput, model: ModelInfo, ukey: UpstreamKey, timeout: float
) -> OpenStream:
    adapter, upstream = upstream_request(model, ukey, request.body, stream=True)
    response = await upstream_stream_open(adapter=adapter, request=upstream, timeout=timeout)
    try:
        parser = adapter.stream_parser(model=model.model_id, request_id=request.request_id)
        chunks = response.aiter_raw()
        first, relayed = await _read_preamble(parser, chunks, relay=not request.stores_answers)
        return OpenStream(response, chunks, parser, first, relayed)
    except BaseException:
        await response.aclose()
        raise


async def _read_preamble(
    parser: StreamParser, chunks: AsyncIterator[bytes], *, relay: bool
) -> tuple[list[dict], bytes]:
    """Hold the role-only preamble back until real content (or the end) arrives: until then
    another candidate can still take over. With `relay` what was read is kept as the client's
    bytes (one upstream read may hold the whole answer), else as chunks."""
    first: list[dict] = []
    relayed: list[bytes] = []
    while not parser.content_seen and not parser.finished:
        try:
            data = await chunks.__anext__()
        except StopAsyncIteration:
            raise ProviderError(
                "stream ended before any content",
                kind="malformed",
                retryable=True,
                usage=parser.usage,
            ) from None
        if relay:
            relayed.append(parser.relay(data))
        else:
            first.extend(parser.feed(data))
    return first, b"".join(relayed)


class StreamPump:
    """Reads the upstream stream to its end in its own task and feeds the client; then the
    stream's tail, the settlement, the usage event, the cache and the Idempotency-Key answer."""

    def __init__(
        self,
        request: RequestInput,
        state: RequestState,
        served: Served[OpenStream],
        headers: dict[str, str],
    ) -> None:
        self.request, self.state, self.served, self.headers = request, state, served, headers
        self.feed = ClientFeed(keep_transcript=state.claim is not None)
        self.assembled = AssembledCompletion() if request.stores_answers else None

    async def run(self) -> None:
        error = await self._pump()
        try:
            await self._finish(error)
        except Exception:
            logger.exception("stream finalisation failed request_id=%s", self.request.request_id)
            await self.feed.end()

    async def _pump(self) -> ProviderError | None:
        """Emit every chunk until the stream ends; the error that cut it short, if any."""
        request, stream = self.request, self.served.result
        parser = stream.parser
        try:
            for chunk in stream.first:
                await self._emit_chunk(chunk)
            if stream.first_relayed:
                await self.feed.emit(stream.first_relayed)
            remaining = max(request.deadline - time.monotonic(), 0.001)
            async with asyncio.timeout(remaining):
                while not parser.finished:
                    try:
                        data = await stream.chunks.__anext__()
                    except StopAsyncIteration:
                        break
                    await self._emit_upstream(parser, data)
            if not parser.finished:
                return ProviderError("the upstream stream ended early", kind="connection")
            return None
        except ProviderError as exc:
            return exc
        except TRANSPORT_ERRORS as exc:
            return transport_error(exc, timeout=request.deadline - request.started)
        except Exception as exc:
            logger.exception("stream pump failed request_id=%s", request.request_id)
            return ProviderError(f"stream failed ({type(exc).__name__})", kind="server")
        finally:
            await stream.response.aclose()

    async def _emit_upstream(self, parser: StreamParser, data: bytes) -> None:
        """One read of the upstream body to the client: as chunk dicts while the answer is being
        assembled for the cache, else as the parser's encoded relay in one write."""
        if self.assembled is not None:
            for chunk in parser.feed(data):
                await self._emit_chunk(chunk)
            return
        encoded = parser.relay(data)
        if encoded:
            await self.feed.emit(encoded)

    async def _emit_chunk(self, chunk: dict[str, Any]) -> None:
        if self.assembled is not None:
            self.assembled.add(chunk)
            if self.assembled.size > MAX_STORED_STREAM_BYTES:
                self.assembled = None
        await self.feed.emit(sse_event(chunk))

    async def _finish(self, error: ProviderError | None) -> None:
        request, state, model, ukey = self.request, self.state, self.served.model, self.served.ukey
        usage = self._billed_usage()
        cost = usage_cost(model, usage) + state.log.billed_failed_cost
        await self._send_tail(usage, error)
        tokens = usage.input_tokens + usage.output_tokens + state.log.billed_failed_tokens
        await settle_and_count(request, state, cost=cost, tokens=tokens)
        record_answer(
            state,
            model=model,
            key_source=ukey.key_source,
            usage=usage,
            cost=cost,
            fallback=self.served.fallback,
            failed=error is not None,
        )
        if error is None and self.assembled is not None:
            completion = self.assembled.completion(usage=usage)
            await cache_store(request, model=model, ukey=ukey, completion=completion, cost=cost)
        await self._answer_claim(error)
        log_request(state, status=200 if error is None else 502, model=model.qualified_id)

    def _billed_usage(self) -> Usage:
        usage = self.served.result.parser.usage
        if not usage.input_tokens:  # the provider reports input only at the end: bill our estimate
            usage = dataclasses.replace(
                usage, input_tokens=self.request.features.estimated_input_tokens
            )
        return usage

    async def _send_tail(self, usage: Usage, error: ProviderError | None) -> None:
        """The stream's last events: the usage chunk when asked for, then [DONE] or the error
        (a failure after the first byte is noted on the attempt and counts for its breaker)."""
        if self.request.chat.include_usage:
            await self.feed.emit(
                sse_event(
                    {
                        "id": f"chatcmpl-{self.request.request_id}",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": self.served.model.model_id,
                        "choices": [],
                        "usage": usage_to_openai(usage),
                    }
                )
            )
        if error is not None:
            await self._note_failure(error)
            message = f"The upstream stream failed: {error.message}"
            await self.feed.emit(
                sse_event(
                    {
                        "error": {
                            "message": message,
                            "type": "upstream_error",
                            "code": "upstream_error",
                        }
                    }
                )
            )
        else:
            await self.feed.emit(SSE_DONE)
        if not self.feed.client_gone:
            await self.feed.end()

    async def _note_failure(self, error: ProviderError) -> None:
        error_without_key(error=error, ukey=self.served.ukey)
        self.state.log.attempts[-1].note = f"stream failed after the first byte: {error.message}"
        if error.kind in FAILURE_KINDS:
            await breaker_record(
                provider=self.served.model.provider_slug,
                credential=self.served.ukey.breaker_id,
                ok=False,
            )

    async def _answer_claim(self, error: ProviderError | None) -> None:
        """A complete stream (short enough to keep) is the Idempotency-Key's answer; else the
        key is freed so a retry runs anew."""
        if error is None and self.feed.transcript is not None:
            await claim_finish(
                self.state,
                headers=self.headers,
                body=b"".join(self.feed.transcript),
                content_type="text/event-stream",
            )
        else:
            await claim_abort(self.state)
