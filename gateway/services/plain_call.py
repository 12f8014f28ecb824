"""A plain (non-streamed) answer: the first candidate that answers, then the answer sent with
its settlement running off the client's latency."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import orjson

from gateway.services.attempts import first_answer, upstream_request
from gateway.services.background import spawn
from gateway.services.cached_answers import cache_store
from gateway.services.holds import claim_finish, settle_and_count
from gateway.services.metering import log_request, record_answer, usage_cost
from gateway.services.responses import GatewayResponse, tollgate_headers
from llm.providers.http import upstream_call

if TYPE_CHECKING:
    from decimal import Decimal

    from gateway.services.attempts import Served
    from gateway.services.context import RequestInput, RequestState
    from gateway.services.upstream_keys import UpstreamKey
    from llm.providers.contract import ChatResult, Usage
    from llm.services.routing_snapshots import ModelInfo


async def run_plain(request: RequestInput, state: RequestState) -> GatewayResponse:
    served = await first_answer(request, state.log, functools.partial(_call, request))
    model, result = served.model, served.result
    usage = result.usage
    cost = usage_cost(model, usage) + state.log.billed_failed_cost
    tokens = usage.input_tokens + usage.output_tokens + state.log.billed_failed_tokens
    # Off the client's latency: the answer goes out while the settlement's round trip runs (the
    # hold covers the worst case until then; lifespan shutdown waits for it). The record comes
    # after the settlement, as on every path: a counter seeded from the database must never
    # count a request whose settlement is still to come (billing/services/budget_failover.py).
    spawn(_settle_then_record(request, state, served, usage=usage, cost=cost, tokens=tokens))
    headers = tollgate_headers(
        state,
        model=model.qualified_id,
        provider=model.provider_slug,
        cost=cost,
        fallback=served.fallback,
    )
    body = orjson.dumps(result.body)
    await cache_store(request, model=model, ukey=served.ukey, completion=result.body, cost=cost)
    await claim_finish(state, headers=headers, body=body, content_type="application/json")
    log_request(state, status=200, model=model.qualified_id)
    return GatewayResponse(status=200, headers=headers, body=body)


async def _settle_then_record(
    request: RequestInput,
    state: RequestState,
    served: Served[ChatResult],
    *,
    usage: Usage,
    cost: Decimal,
    tokens: int,
) -> None:
    try:
        await settle_and_count(request, state, cost=cost, tokens=tokens)
    finally:
        record_answer(
            state,
            model=served.model,
            key_source=served.ukey.key_source,
            usage=usage,
            cost=cost,
            fallback=served.fallback,
        )


async def _call(
    request: RequestInput, model: ModelInfo, ukey: UpstreamKey, timeout: float
) -> ChatResult:
    adapter, upstream = upstream_request(model, ukey, request.body, stream=False)
    return await upstream_call(
        adapter=adapter, request=upstream, model_id=model.model_id, timeout=timeout
    )
