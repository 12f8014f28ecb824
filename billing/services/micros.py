"""Micro-dollars: the integer unit budget counters count spend in.

Spend rounds up (ceil) for reservations and settlements: a counter can be ahead of the database
by under 1 micro-dollar per request, never behind, so strict limits hold. A limit rounds down
for the same reason.
"""

import math
from decimal import Decimal

MICROS = Decimal(1_000_000)


def to_micros(amount: Decimal | int | None) -> int:
    """Dollars to integer micro-dollars, rounded up (never under-count spend)."""
    if not amount:
        return 0
    return math.ceil(Decimal(amount) * MICROS)


def limit_micros(amount: Decimal) -> int:
    """A budget limit in micro-dollars, rounded down (never allow more than the limit)."""
    return math.floor(Decimal(amount) * MICROS)
