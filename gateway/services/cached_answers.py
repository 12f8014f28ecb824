"""The response cache on the request path: looking an answer up, serving a hit (as JSON, or
as the stream chunks that would have produced it) and storing a fresh answer, plain or
streamed, for the config's cache TTL. The store itself is gateway.services.response_cache."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from core.money import money_text
from gateway.services.holds import claim_finish
from gateway.services.metering import log_request, record_usage
from gateway.services.response_cache import cache_get, cache_set
from gateway.services.responses import (
    SSE_DONE,
    GatewayResponse,
    complete_response,
    sse_event,
    tollgate_headers,
)
from gateway.services.similarity_cache import similarity_remember

if TYPE_CHECKING:
    from gateway.services.context import RequestInput, RequestState
    from gateway.services.upstream_keys import UpstreamKey
    from llm.services.routing_snapshots import ModelInfo


async def cache_lookup(request: RequestInput) -> dict | None:
    """The cached answer to this request, when its config caches and one is stored."""
    if request.cache_ref is None:
        return None
    return await cache_get(key=request.cache_ref)


async def serve_cache_hit(
    request: RequestInput, state: RequestState, hit: dict[str, Any]
) -> GatewayResponse:
    """A hit costs nothing; its event records what it saved (the cost of the cached answer)."""
    model, provider = hit.get("model", ""), hit.get("provider", "")
    record_usage(
        state,
        status="cache_hit",
        model=model,
        provider=provider,
        key_source=hit.get("key_source", "platform"),
        saved=Decimal(hit.get("cost_usd") or "0"),
    )
    headers = tollgate_headers(state, model=model, provider=provider, cache="hit")
    if request.chat.stream:
        content_type = "text/event-stream"
        chunks = _replay_chunks(hit["body"], request)
        body = b"".join(sse_event(c) for c in chunks) + SSE_DONE
    else:
        content_type = "application/json"
        body = orjson.dumps(hit["body"])
    await claim_finish(state, headers=headers, body=body, content_type=content_type)
    log_request(state, status=200, model=model, provider=provider, cache="hit")
    return complete_response(status=200, headers=headers, body=body, content_type=content_type)


def _replay_chunks(completion: dict[str, Any], request: RequestInput) -> list[dict[str, Any]]:
    """A cached chat.completion as the stream chunks that would have produced it."""
    base = {
        "id": completion.get("id") or f"chatcmpl-{request.request_id}",
        "object": "chat.completion.chunk",
        "created": completion.get("created") or int(time.time()),
        "model": completion.get("model", ""),
    }
    chunks = []
    for choice in completion.get("choices") or ():
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {"index": i, **call} for i, call in enumerate(message["tool_calls"])
            ]
        index = choice.get("index", 0)
        chunks.append({**base, "choices": [{"index": index, "delta": delta}]})
        chunks.append(
            {
                **base,
                "choices": [
                    {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
                ],
            }
        )
    if request.chat.include_usage and completion.get("usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


async def cache_store(
    request: RequestInput,
    *,
    model: ModelInfo,
    ukey: UpstreamKey,
    completion: dict[str, Any],
    cost: Decimal,
) -> None:
    """Keep an answer for the config's TTL (when it caches), with what it cost to make; and
    in the similarity cache, when the request missed it."""
    entry = {
        "body": completion,
        "model": model.qualified_id,
        "provider": model.provider_slug,
        "key_source": ukey.key_source,
        "cost_usd": money_text(cost),
    }
    similarity_remember(request, entry)
    if request.cache_ref is None:
        return
    ttl = request.decision.cache_ttl_seconds
    await cache_set(key=request.cache_ref, entry=entry, ttl_seconds=ttl)
