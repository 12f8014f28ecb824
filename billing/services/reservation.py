"""A request's hold on its budgets, shared by the Redis and database paths and the failover."""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Reservation:
    """What a request holds against its budgets until it settles or releases."""

    tenant_id: int
    amount_usd: Decimal = Decimal(0)
    tokens: int = 0
    holds: list = field(default_factory=list)  # counter keys held
    held: list = field(default_factory=list)  # (micros, tokens) held on each counter (Redis)
    id: str = ""
    backend: str = ""  # "redis", "db" or "" (nothing held)
    micros: int = 0
    done: bool = False
    plans: list = field(default_factory=list)  # the CounterPlans of `holds`
    tz: object = None  # the tenant's time zone (seeding a counter again)
    expires_ms: int = 0  # when the hold stops counting (epoch ms)
