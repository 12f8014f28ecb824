"""A request that failed after admission: what a provider billed for its failed attempts stays
spent against the budgets (the hold settles at it), otherwise the hold is released; then its one
usage event, with nothing in between (as after an answer: holds.settle_and_count)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import BudgetExceeded, ModelNotAllowed, RateLimited
from gateway.services.holds import release, settle
from gateway.services.metering import record_usage

if TYPE_CHECKING:
    from decimal import Decimal

    from core.errors import ApplicationError
    from gateway.services.context import RequestState


async def failure_settle_and_record(state: RequestState, exc: ApplicationError) -> Decimal:
    """Settle or release the hold and record the failure (`rejected` for a refusal by a budget,
    a rate limit or model access, else `error`); returns what the provider billed."""
    billed = state.log.billed_failed_cost
    if billed:
        await settle(state, cost=billed, tokens=state.log.billed_failed_tokens)
    else:
        await release(state)
    rejected = isinstance(exc, BudgetExceeded | RateLimited | ModelNotAllowed)
    served = state.log.last
    record_usage(  # one event per authenticated request, failures included
        state,
        status="rejected" if rejected else "error",
        model=served.model if served else "",
        provider=served.provider if served else "",
        cost=billed,
        error_code=exc.code,
    )
    return billed
