"""What a request costs and leaves behind: the cost of a usage at a model's price, the one
usage record per authenticated request (failures included), and the one log line and the
metrics of every request (core/metrics.py: requests, tokens, cost, gateway overhead).

Metric labels stay bounded: `model` is a catalog id once the request was routed (a candidate,
the served model or the cached answer's), `other` before; `tenant` and `provider` are `none`
where there is none yet. The log line keeps what the client asked for (truncated, redacted).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from billing.services.usage import usage_event_enqueue
from billing.usage_record import UsageRecord
from core.log_format import KeyValues
from core.metrics import request_observe, upstream_error_observe, usage_observe
from llm.providers.contract import Usage
from llm.services.token_cost import estimate_cost

if TYPE_CHECKING:
    from gateway.services.context import RequestState
    from llm.services.routing_snapshots import ModelInfo

logger = logging.getLogger("tollgate.gateway")

ZERO = Decimal(0)
_NO_USAGE = Usage()


def usage_cost(model: ModelInfo, usage: Usage) -> Decimal:
    return estimate_cost(
        model=model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
    )


def record_usage(
    state: RequestState,
    *,
    status: str,
    model: str = "",
    provider: str = "",
    key_source: str = "platform",
    usage: Usage = _NO_USAGE,
    cost: Decimal = ZERO,
    fallback: bool = False,
    saved: Decimal = ZERO,
    error_code: str = "",
) -> None:
    """Buffer the request's usage record with what is known of it so far. A request that never
    authenticated has no tenant to bill: it leaves none."""
    if state.key is None:
        return
    decision = state.admitted.decision if state.admitted is not None else None
    usage_event_enqueue(
        record=UsageRecord(
            request_id=state.request_id,
            tenant_id=state.key.tenant_id,
            api_key_id=state.key.key_id,
            config_id=decision.config.pk if decision and decision.config else None,
            requested_model=state.chat.requested_model if state.chat is not None else "",
            model=model,
            provider=provider,
            key_source=key_source,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=cost,
            saved_usd=saved,
            latency_ms=state.latency_ms,
            status=status,
            fallback=fallback,
            attempts=tuple(a.as_dict() for a in state.log.attempts),
            route_reason=decision.reason if decision else "",
            tags=state.hints.tags if state.hints is not None else (),
            error_code=error_code,
            end_user=(state.hints.user or "") if state.hints is not None else "",
            created_at=datetime.now(UTC),
        )
    )
    _usage_metrics(state, model=model, provider=provider, usage=usage, cost=cost)


def record_answer(
    state: RequestState,
    *,
    model: ModelInfo,
    key_source: str,
    usage: Usage,
    cost: Decimal,
    fallback: bool,
    failed: bool = False,
) -> None:
    """The record of an answer a model gave (`failed`: a stream that broke after its first
    byte, billed for what it generated)."""
    status = "error" if failed else ("fallback_success" if fallback else "success")
    if failed:
        upstream_error_observe(provider=model.provider_slug, kind="stream_broken")
    record_usage(
        state,
        status=status,
        model=model.qualified_id,
        provider=model.provider_slug,
        key_source=key_source,
        usage=usage,
        cost=cost,
        fallback=fallback,
        error_code="upstream_error" if failed else "",
    )


def log_request(
    state: RequestState,
    *,
    status: int,
    model: str,
    provider: str | None = None,
    cache: str = "miss",
) -> None:
    """The request's one log line and its request metrics. `provider` defaults to that of the
    last upstream call made (the one that answered, or the last that failed)."""
    if provider is None:
        made = [a for a in state.log.attempts if a.status != "skipped"]
        provider = made[-1].provider if made else ""
    tenant = state.key.tenant_slug if state.key else ""
    elapsed = time.monotonic() - state.started
    fields = {
        "request_id": state.request_id,
        "tenant": tenant,
        "model": model,
        "provider": provider,
        "status": status,
        "latency_ms": int(elapsed * 1000),
        "attempts": state.log.calls,
        "cache": cache,
    }
    logger.info(KeyValues(fields), extra={"event": "request", "fields": fields})
    streamed = state.chat is not None and state.chat.stream
    request_observe(
        tenant=tenant or "none",
        model=_model_label(state, model),
        provider=provider or "none",
        status=status,
        cache=cache,
        overhead=None if streamed else elapsed - state.log.upstream_seconds,
    )


def _model_label(state: RequestState, model: str) -> str:
    """A catalog id once routed (bounded by the catalog), else `other`."""
    return model if model and state.admitted is not None else "other"


def _usage_metrics(
    state: RequestState, *, model: str, provider: str, usage: Usage, cost: Decimal
) -> None:
    usage_observe(
        tenant=state.key.tenant_slug if state.key else "none",
        model=_model_label(state, model),
        provider=provider or "none",
        tokens={
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cached": usage.cached_tokens,
            "cache_write": usage.cache_write_tokens,
            "reasoning": usage.reasoning_tokens,
        },
        cost=float(cost),
    )
