"""What a request costs and leaves behind: the cost of a usage at a model's price, the one
usage record per authenticated request (failures included) and the one log line per request."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from billing.services.usage import usage_event_enqueue
from billing.usage_record import UsageRecord
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
            cost_usd=cost,
            saved_usd=saved,
            latency_ms=state.latency_ms,
            status=status,
            fallback=fallback,
            attempts=tuple(a.as_dict() for a in state.log.attempts),
            route_reason=decision.reason if decision else "",
            tags=state.hints.tags if state.hints is not None else (),
            error_code=error_code,
            created_at=datetime.now(UTC),
        )
    )


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


def log_request(state: RequestState, *, status: int, model: str) -> None:
    logger.info(
        "request_id=%s tenant=%s model=%s status=%s attempts=%d latency_ms=%d",
        state.request_id,
        state.key.tenant_slug if state.key else "-",
        model or "-",
        status,
        state.log.calls,
        state.latency_ms,
    )
