"""How the holds a request takes at admission end: its budget reservation is settled at the
actual cost (or released), its Idempotency-Key claim finished with the answer (or aborted).
A failure to settle or release is logged, never the client's problem: the hold expires."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from billing.services.budgets import budget_release, budget_settle
from gateway.services.idempotency import idempotency_abort, idempotency_finish
from gateway.services.ratelimit import rate_limit_add_tokens

if TYPE_CHECKING:
    from gateway.services.context import RequestInput, RequestState

logger = logging.getLogger("tollgate.gateway")


async def release(state: RequestState) -> None:
    reservation, state.reservation = state.reservation, None
    if reservation is not None:
        try:
            await budget_release(reservation=reservation)
        except Exception:
            logger.exception("budget release failed request_id=%s", state.request_id)


async def settle(state: RequestState, *, cost: Decimal, tokens: int) -> None:
    reservation, state.reservation = state.reservation, None
    if reservation is not None:
        try:
            await budget_settle(reservation=reservation, actual_cost_usd=cost, actual_tokens=tokens)
        except Exception:
            logger.exception("budget settle failed request_id=%s", state.request_id)


async def settle_and_count(
    request: RequestInput, state: RequestState, *, cost: Decimal, tokens: int
) -> None:
    """After an answer: the key's token rate counts it, the budget settles at its actual cost,
    both commands in one write. The caller records the usage right after, with nothing in
    between (billing/services/budget_failover.py)."""
    rate_limit_add_tokens(
        key_id=request.key.key_id,
        tpm_limit=request.key.tpm_limit,
        tokens=tokens - request.features.estimated_input_tokens,
    )
    await settle(state, cost=cost, tokens=tokens)


async def claim_finish(
    state: RequestState, *, headers: dict[str, str], body: bytes, content_type: str
) -> None:
    """Store the answer under the request's Idempotency-Key (if it sent one) for replays."""
    if state.claim is not None:
        await idempotency_finish(
            claim=state.claim, status=200, headers=headers, body=body, content_type=content_type
        )


async def claim_abort(state: RequestState) -> None:
    """Free the request's Idempotency-Key (if it sent one): a retry runs anew."""
    if state.claim is not None:
        await idempotency_abort(claim=state.claim)
