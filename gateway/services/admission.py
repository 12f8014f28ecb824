"""Admission of a chat completion: what is settled before any upstream call.

In order (the use case in chat_completions runs them): the Idempotency-Key claim (or the
stored answer to replay), the key's rate limit, the tenant's snapshot and the routing
decision (the request's `RequestInput`), and the budget reservation of the worst case.

The rate limit and the reservation are two Redis commands; the limit's verdict is not needed
before the reservation is, so its command is sent first and awaited last (`RateCheck`): both go
out in one write and come back in one read, a round trip saved per request. Its verdict still
comes first: a refused limit answers 429 whatever routing or the budget said (as when it was
checked before them), and a hold already taken is given back. A key this process saw refused
(until that refusal's Retry-After) is checked before routing instead, so that a client
hammering past its limit takes no budget holds (gateway/services/ratelimit.py).

Budget reservation: the worst case is reserved once, as the maximum over *all* candidates of
(estimated input + max output) at that candidate's price (every input token at its dearest
class, a cache write), so a fallback to a pricier model never needs a second reservation that
could fail half-way; settle replaces it with the actual cost
(including any failed attempt the provider billed), and every failure path releases it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from redis.exceptions import RedisError

from billing.services.budgets import budget_release, budget_reserve, budget_used_pct
from core.errors import ApplicationError, RateLimited
from gateway.services import snapshots
from gateway.services.context import RequestInput
from gateway.services.idempotency import idempotency_begin
from gateway.services.ratelimit import rate_limit_refused_lately, rate_limit_start
from gateway.services.response_cache import cache_key
from llm.services.latency import latency_by_model
from llm.services.request_features import with_complexity
from llm.services.router import config_for_model, route_request
from llm.services.token_cost import worst_case_cost

if TYPE_CHECKING:
    from billing.services.reservation import Reservation
    from gateway.services.context import ChatRequest, RequestState
    from gateway.services.idempotency import IdempotencyClaim
    from gateway.services.ratelimit import PendingAdmission
    from gateway.services.snapshots import KeyInfo
    from llm.services.request_features import RequestFeatures
    from llm.services.routing_hints import RoutingHints
    from llm.services.routing_snapshots import ConfigInfo, ModelInfo

logger = logging.getLogger("tollgate.gateway")

ZERO = Decimal(0)
_GATEWAY_PARAMS = frozenset({"timeout_seconds", "max_retries"})  # config params not sent upstream


def deadline_seconds(params: Mapping[str, Any]) -> float:
    value = params.get("timeout_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(settings.TOLLGATE_REQUEST_DEADLINE_SECONDS)


async def idempotency_claim(
    state: RequestState, *, key: KeyInfo, chat: ChatRequest, idempotency_key: str | None
) -> tuple[IdempotencyClaim | None, dict | None]:
    """(claim, None) for a request to serve, (None, stored answer) for one to replay. Without
    the header, or with the store down, there is nothing to claim: the request is served (no
    replay possible) rather than failed."""
    if idempotency_key is None:
        return None, None
    try:
        return await idempotency_begin(
            tenant_id=key.tenant_id,
            idempotency_key=idempotency_key,
            body=chat.body,
            wait_seconds=deadline_seconds({}),
        )
    except (RedisError, OSError):
        logger.warning("idempotency store unavailable request_id=%s", state.request_id)
        return None, None


async def admit(
    state: RequestState,
    *,
    key: KeyInfo,
    chat: ChatRequest,
    hints: RoutingHints,
    features: RequestFeatures,
) -> tuple[RequestInput, RateCheck]:
    """The route, the key's rate limit checked alongside (module doc): the request as it will
    be served, and the limit's verdict to take before serving it (reserve_worst_case)."""
    rate_check = await rate_check_start(key, features)
    try:
        request = await _route(state, key=key, chat=chat, hints=hints, features=features)
    except ApplicationError:
        await rate_check.verdict()  # a refused limit answers first
        raise
    return request, rate_check


async def _route(
    state: RequestState,
    *,
    key: KeyInfo,
    chat: ChatRequest,
    hints: RoutingHints,
    features: RequestFeatures,
) -> RequestInput:
    catalog = await snapshots.catalog_get()
    snapshot = await snapshots.tenant_snapshot_get(tenant_id=key.tenant_id)
    if any(config.reads_complexity for config in snapshot.configs):
        features = with_complexity(features, body=chat.body)
    used_pct = await _budget_used_pct(key, chat, snapshot.configs)
    decision = route_request(
        requested_model=chat.requested_model,
        configs=snapshot.configs,
        catalog=catalog,
        hints=hints,
        features=features,
        budget_used_pct=used_pct,
        latency_ms=latency_by_model(),
        access=snapshots.key_access(key=key, snapshot=snapshot),
    )
    body = {k: v for k, v in decision.params.items() if k not in _GATEWAY_PARAMS}
    body.update(chat.body)
    cache_ref = None
    if decision.cache_ttl_seconds > 0:
        candidates = [m.qualified_id for m in decision.candidates]
        cache_ref = cache_key(tenant_id=key.tenant_id, candidates=candidates, body=body)
    return RequestInput(
        request_id=state.request_id,
        started=state.started,
        key=key,
        chat=chat,
        hints=hints,
        features=features,
        snapshot=snapshot,
        decision=decision,
        body=body,
        deadline=state.started + deadline_seconds(decision.params),
        cache_ref=cache_ref,
    )


async def rate_limit_check(key: KeyInfo, features: RequestFeatures) -> None:
    """The key's requests and tokens per minute: RateLimited (429, Retry-After) when spent."""
    await RateCheck(_rate_limit_start(key, features)).verdict()


class RateCheck:
    """A rate-limit check whose command is out: `verdict()` awaits the answer and raises
    RateLimited when the limit is spent (module doc)."""

    __slots__ = ("_pending",)

    def __init__(self, pending: PendingAdmission) -> None:
        self._pending = pending

    async def verdict(self) -> None:
        _raise_if_refused(await self._pending.retry_after())


async def rate_check_start(key: KeyInfo, features: RequestFeatures) -> RateCheck:
    """Send the key's rate-limit command and return at once. A verdict known already (the
    embedded default's file), or a key refused lately in this process, is taken here: raises
    when refused, before any hold is taken."""
    pending = _rate_limit_start(key, features)
    check = RateCheck(pending)
    if pending.decided or rate_limit_refused_lately(key_id=key.key_id):
        await check.verdict()
    return check


def _rate_limit_start(key: KeyInfo, features: RequestFeatures) -> PendingAdmission:
    return rate_limit_start(
        key_id=key.key_id,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        tokens=features.estimated_input_tokens,
    )


def _raise_if_refused(retry_after: int | None) -> None:
    if retry_after is not None:
        raise RateLimited(
            f"Rate limit of this API key reached; retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


async def _budget_used_pct(
    key: KeyInfo, chat: ChatRequest, configs: list[ConfigInfo]
) -> Decimal | None:
    """Only for a config whose rules read it: one Redis round trip saved for the others."""
    governing = config_for_model(requested_model=chat.requested_model, configs=configs)
    if governing is None or not governing.reads_budget_state:
        return None
    return await budget_used_pct(tenant_id=key.tenant_id, config_id=governing.pk)


async def reserve_worst_case(request: RequestInput, *, rate_check: RateCheck) -> Reservation:
    """Hold the dearest candidate's worst case against every budget (module doc), then take
    the rate limit's verdict: a refusal gives the hold back and raises RateLimited, also in
    place of a BudgetExceeded."""
    try:
        reservation = await _reserve(request)
    except ApplicationError:
        await rate_check.verdict()
        raise
    try:
        await rate_check.verdict()
    except RateLimited:
        await budget_release(reservation=reservation)
        raise
    return reservation


async def _reserve(request: RequestInput) -> Reservation:
    worst_cost, worst_tokens = ZERO, 0
    estimated_input = request.features.estimated_input_tokens
    for model in request.decision.candidates:
        out = _max_output(request.body, request.decision.params, model)
        cost = worst_case_cost(model=model, input_tokens=estimated_input, output_tokens=out)
        worst_cost = max(worst_cost, cost)
        worst_tokens = max(worst_tokens, estimated_input + out)
    config = request.decision.config
    return await budget_reserve(
        tenant_id=request.key.tenant_id,
        api_key_id=request.key.key_id,
        config_id=config.pk if config else None,
        worst_case_cost_usd=worst_cost,
        worst_case_tokens=worst_tokens,
        end_user=request.hints.user,
    )


def _max_output(body: Mapping[str, Any], params: Mapping[str, Any], model: ModelInfo) -> int:
    requested = (
        body.get("max_completion_tokens") or body.get("max_tokens") or params.get("max_tokens")
    )
    ceiling = model.max_output_tokens or 4096
    if isinstance(requested, int) and requested > 0:
        return min(requested, ceiling)
    return ceiling
