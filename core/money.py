"""Money: USD as Decimal at one quantum, and one way to write it as text.

Every cost column stores 10 decimal places (`MONEY_FIELD`), so a cost is rounded once, to
`COST_QUANTUM`, where it is computed; sums of stored costs are exact.
"""

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import overload

COST_QUANTUM = Decimal("0.0000000001")
MONEY_FIELD = {"max_digits": 20, "decimal_places": 10}
CENT = Decimal("0.01")


def money_quantize(value: Decimal | int | str | None) -> Decimal:
    """A cost at the stored precision (half up); None (an empty sum) is zero."""
    if value is None:
        value = Decimal(0)
    elif not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


@overload
def money_text(value: Decimal, *, min_places: int | None = None) -> str: ...
@overload
def money_text(value: None, *, min_places: int | None = None) -> None: ...
def money_text(value: Decimal | None, *, min_places: int | None = None) -> str | None:
    """Exact decimal text, never an exponent. With `min_places` trailing zeros are trimmed down
    to that many places ("0.50", "0.001234"); without, the places are the Decimal's own."""
    if value is None:
        return None
    if min_places is None:
        return format(value, "f")
    whole, _, frac = format(Decimal(value).normalize(), "f").partition(".")
    frac = frac.ljust(min_places, "0")
    return f"{whole}.{frac}" if frac else whole


def money_cents(value: Decimal) -> Decimal:
    """A statement amount in the currency's minor unit: half-even, so that rounding many lines
    does not drift one way (docs/billing.md, "Rounding")."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)
