"""The chat completion use case: one request from authentication to the usage event.

Order of checks: key -> body -> Idempotency-Key -> rate limit -> route -> cache (exact, then
similarity: gateway.services.similarity_cache) -> budget ->
upstream attempts (fallback chain, retries, breakers, one deadline) -> settle -> usage event.
Nothing here queries the database for a warm tenant (see gateway.services.snapshots); usage
events go to the buffer in billing.services.usage. The steps live in admission, attempts,
plain_call, streaming and cached_answers; this module runs them and turns a failure into its
answer, its usage event and the end of whatever the request held.
"""

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal

from core.errors import (
    ApplicationError,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.services.admission import admit, idempotency_claim, reserve_worst_case
from gateway.services.background import spawn
from gateway.services.cached_answers import cache_lookup, serve_cache_hit
from gateway.services.context import RequestState
from gateway.services.failure_metering import failure_settle_and_record
from gateway.services.holds import claim_abort, release
from gateway.services.metering import log_request
from gateway.services.plain_call import run_plain
from gateway.services.request_parsing import authenticate, parse_chat_body
from gateway.services.responses import (
    GatewayResponse,
    complete_response,
    error_response,
    internal_error_response,
    tollgate_headers,
)
from gateway.services.similarity_cache import similarity_lookup
from gateway.services.streaming import run_stream
from llm.services.request_features import request_features_from
from llm.services.routing_hints import routing_hints_from

logger = logging.getLogger("tollgate.gateway")

ZERO = Decimal(0)


async def chat_completion(
    *,
    request_id: str,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    """Serve one chat completion (the steps: `_serve`)."""
    return await serve_request(
        request_id=request_id,
        serve=functools.partial(
            _serve, authorization=authorization, raw_body=raw_body, headers=headers
        ),
    )


async def serve_request(
    *, request_id: str, serve: Callable[[RequestState], Awaitable[GatewayResponse]]
) -> GatewayResponse:
    """Run one /v1 use case (chat, embeddings, messages): `serve` fills in the request's state
    and answers; a failure becomes its error answer, its usage event and the end of whatever
    the request held. The work runs in its own task, shielded from the client going away: a
    request the upstream already works on is finished, settled and metered regardless."""
    task = spawn(_run(RequestState(request_id=request_id, started=time.monotonic()), serve))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_abandon)
        raise


def _abandon(task: asyncio.Task) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    response = task.result()
    if response.abandon is not None:
        response.abandon()


async def _run(
    state: RequestState, serve: Callable[[RequestState], Awaitable[GatewayResponse]]
) -> GatewayResponse:
    try:
        return await serve(state)
    except ApplicationError as exc:
        return await _fail(state, exc)
    except Exception:
        logger.exception("gateway internal error request_id=%s", state.request_id)
        await release(state)
        await claim_abort(state)
        return internal_error_response(tollgate_headers(state))


async def _serve(
    state: RequestState,
    *,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    """The steps in order (module doc); each fills in `state`, any may raise ApplicationError."""
    state.key = await authenticate(authorization=authorization)
    state.chat = parse_chat_body(raw_body)
    return await serve_chat(state, headers=headers)


async def serve_chat(state: RequestState, *, headers: Mapping[str, str]) -> GatewayResponse:
    """The steps after authentication and parsing (`state.key`, `state.chat` set): a request
    translated from another API (Anthropic Messages) runs the same pipeline from here."""
    key, chat = state.key, state.chat
    if key is None or chat is None:
        raise RuntimeError("serve_chat needs an authenticated, parsed request")
    state.hints = hints = routing_hints_from(body=chat.body, headers=headers)
    features = request_features_from(body=chat.body, scan_complexity=False)  # admit() scans
    state.claim, stored = await idempotency_claim(
        state, key=key, chat=chat, idempotency_key=headers.get("idempotency-key")
    )
    if stored is not None:
        return replay(stored)
    request, rate_check = await admit(state, key=key, chat=chat, hints=hints, features=features)
    state.admitted = request
    hit = await cache_lookup(request)
    if hit is None:
        request, hit = await similarity_lookup(request, state)
        state.admitted = request
    if hit is not None:
        await rate_check.verdict()
        return await serve_cache_hit(request, state, hit)
    state.reservation = await reserve_worst_case(request, rate_check=rate_check)
    if request.chat.stream:
        return await run_stream(request, state)
    return await run_plain(request, state)


async def _fail(state: RequestState, exc: ApplicationError) -> GatewayResponse:
    billed = await failure_settle_and_record(state, exc)
    await claim_abort(state)
    upstream = isinstance(exc, UpstreamError | UpstreamTimeout)
    log_request(state, status=exc.status, model=state.model_hint)
    return error_response(exc, tollgate_headers(state, cost=billed if upstream else ZERO))


def replay(stored: dict) -> GatewayResponse:
    """The answer stored under the request's Idempotency-Key, marked as a replay."""
    headers = dict(stored.get("headers") or {})
    headers["Idempotent-Replayed"] = "true"
    return complete_response(
        status=int(stored.get("status") or 200),
        headers=headers,
        body=(stored.get("body") or "").encode(),
        content_type=stored.get("content_type") or "application/json",
    )
