"""The chat completion use case: one request from authentication to the usage event.

Order of checks: key -> body -> Idempotency-Key -> rate limit -> route -> cache -> budget ->
upstream attempts (fallback chain, retries, breakers, one deadline) -> settle -> usage event.
Nothing here queries the database for a warm tenant (see gateway.services.snapshots); usage
events go to the buffer in billing.services.usage. The steps live in admission, attempts,
plain_call, streaming and cached_answers; this module runs them and turns a failure into its
answer, its usage event and the end of whatever the request held.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from decimal import Decimal

from core.errors import (
    ApplicationError,
    BudgetExceeded,
    ModelNotAllowed,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.services.admission import admit, idempotency_claim, reserve_worst_case
from gateway.services.background import spawn
from gateway.services.cached_answers import cache_lookup, serve_cache_hit
from gateway.services.context import RequestState
from gateway.services.holds import claim_abort, release, settle
from gateway.services.metering import log_request, record_usage
from gateway.services.plain_call import run_plain
from gateway.services.request_parsing import authenticate, parse_chat_body
from gateway.services.responses import (
    GatewayResponse,
    complete_response,
    error_response,
    internal_error_response,
    tollgate_headers,
)
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
    """Serve one request. The work runs in its own task, shielded from the client going away:
    a request the upstream already works on is finished, settled and metered regardless."""
    task = spawn(
        _chat_completion(
            request_id=request_id, authorization=authorization, raw_body=raw_body, headers=headers
        )
    )
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


async def _chat_completion(
    *,
    request_id: str,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    state = RequestState(request_id=request_id, started=time.monotonic())
    try:
        return await _serve(state, authorization=authorization, raw_body=raw_body, headers=headers)
    except ApplicationError as exc:
        return await _fail(state, exc)
    except Exception:
        logger.exception("gateway internal error request_id=%s", request_id)
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
    state.key = key = await authenticate(authorization=authorization)
    state.chat = chat = parse_chat_body(raw_body)
    state.hints = hints = routing_hints_from(body=chat.body, headers=headers)
    features = request_features_from(body=chat.body)
    state.claim, stored = await idempotency_claim(
        state, key=key, chat=chat, idempotency_key=headers.get("idempotency-key")
    )
    if stored is not None:
        return _replay(stored)
    request = await admit(state, key=key, chat=chat, hints=hints, features=features)
    state.admitted = request
    hit = await cache_lookup(request)
    if hit is not None:
        return await serve_cache_hit(request, state, hit)
    state.reservation = await reserve_worst_case(request)
    if request.chat.stream:
        return await run_stream(request, state)
    return await run_plain(request, state)


async def _fail(state: RequestState, exc: ApplicationError) -> GatewayResponse:
    billed = state.log.billed_failed_cost
    if billed:  # the provider charged for a failed attempt: keep that spend
        await settle(state, cost=billed, tokens=state.log.billed_failed_tokens)
    else:
        await release(state)
    await claim_abort(state)
    rejected = isinstance(exc, BudgetExceeded | RateLimited | ModelNotAllowed)
    upstream = isinstance(exc, UpstreamError | UpstreamTimeout)
    served = state.log.last
    record_usage(  # one event per authenticated request, failures included
        state,
        status="rejected" if rejected else "error",
        model=served.model if served else "",
        provider=served.provider if served else "",
        cost=billed,
        error_code=exc.code,
    )
    log_request(state, status=exc.status, model=state.model_hint)
    return error_response(exc, tollgate_headers(state, cost=billed if upstream else ZERO))


def _replay(stored: dict) -> GatewayResponse:
    """The answer stored under the request's Idempotency-Key, marked as a replay."""
    headers = dict(stored.get("headers") or {})
    headers["Idempotent-Replayed"] = "true"
    return complete_response(
        status=int(stored.get("status") or 200),
        headers=headers,
        body=(stored.get("body") or "").encode(),
        content_type=stored.get("content_type") or "application/json",
    )
