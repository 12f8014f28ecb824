"""The cost formula: cached input, rounding, exactness, refusals."""

import dataclasses
from decimal import Decimal

import pytest

from llm.services.token_cost import estimate_cost, worst_case_cost
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


@pytest.mark.parametrize(
    "model",
    [MYSTERY, mi("x/no-output-price", outp=None), mi("x/no-input-price", inp=None)],
    ids=["unpriced", "no output price", "no input price"],
)
def test_a_model_missing_either_price_has_no_cost_and_no_worst_case(model):
    with pytest.raises(ValueError, match="has no price"):
        estimate_cost(model=model, input_tokens=1, output_tokens=1)
    with pytest.raises(ValueError, match="has no price"):
        worst_case_cost(model=model, input_tokens=1, output_tokens=1)


def test_worst_case_prices_every_input_token_at_the_dearest_input_class():
    # cache writes at 1.25 per 1M beat input at 1: (1000 * 1.25 + 10 * 2) / 1M
    model = mi("x/writes", inp="1", outp="2")
    model = dataclasses.replace(model, cache_write_price_per_1m=Decimal("1.25"))
    assert worst_case_cost(model=model, input_tokens=1000, output_tokens=10) == Decimal("0.00127")
