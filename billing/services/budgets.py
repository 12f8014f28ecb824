"""Budget enforcement on the hot path: reserve before the upstream call, settle after.

Interface used by the gateway (implementation: billing issue). Until budgets are configured for
a scope, reserve() reserves nothing and settle()/release() are no-ops.
"""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Reservation:
    """What a request holds against its budgets until it settles or releases."""

    tenant_id: int
    amount_usd: Decimal = Decimal(0)
    tokens: int = 0
    holds: list = field(default_factory=list)  # one entry per budget held (implementation detail)


async def budget_reserve(
    *,
    tenant_id: int,
    api_key_id: int | None,
    config_id: int | None,
    worst_case_cost_usd: Decimal,
    worst_case_tokens: int,
) -> Reservation:
    """Reserve the worst case against every budget that applies; raise BudgetExceeded (402)
    naming scope and period when a strict budget cannot take it."""
    return Reservation(tenant_id=tenant_id)


async def budget_settle(
    *, reservation: Reservation, actual_cost_usd: Decimal, actual_tokens: int
) -> None:
    """Replace the reservation with the actual cost (may be lower or higher)."""


async def budget_release(*, reservation: Reservation) -> None:
    """Give the whole reservation back (timeout, upstream error, client gone before billing)."""


async def budget_used_pct(*, tenant_id: int, config_id: int | None) -> Decimal | None:
    """Highest used percentage over the tenant's (and config's) budgets, or None when none."""
    return None
