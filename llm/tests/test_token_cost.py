"""The cost formula: cached input, rounding, exactness, refusals."""

from decimal import Decimal

import pytest

from llm.services.token_cost import estimate_cost
from llm.tests.routing_support import MINI, MYSTERY, NANO, SONNET, mi


def test_estimate_cost_exact():
    # (800 * 0.15 + 200 * 0.075 + 500 * 0.60) / 1M
    cost = estimate_cost(model=MINI, input_tokens=1000, output_tokens=500, cached_tokens=200)
    assert cost == Decimal("0.000435")
    assert str(cost) == "0.0004350000"
    assert isinstance(cost, Decimal)


def test_estimate_cost_without_a_cached_price_bills_cached_tokens_as_input():
    assert estimate_cost(model=NANO, input_tokens=1000, output_tokens=0, cached_tokens=400) == (
        Decimal("0.0001")
    )
    # big numbers stay exact
    assert estimate_cost(model=SONNET, input_tokens=123_456_789, output_tokens=987_654_321) == (
        Decimal("15185.185182")
    )


def test_estimate_cost_rounds_half_up_to_ten_places():
    tiny = mi("x/tiny", inp="0.000001", outp="0.000001")
    assert estimate_cost(model=tiny, input_tokens=50, output_tokens=0) == Decimal("1E-10")
    assert estimate_cost(model=tiny, input_tokens=49, output_tokens=0) == Decimal(0)


def test_estimate_cost_refuses_nonsense():
    with pytest.raises(ValueError):
        estimate_cost(model=MYSTERY, input_tokens=1, output_tokens=1)
    with pytest.raises(ValueError):
        estimate_cost(model=MINI, input_tokens=-1, output_tokens=1)
