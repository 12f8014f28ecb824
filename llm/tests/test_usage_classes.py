"""Each wire format's usage report normalised into the one set of token classes, and the cost
formula pricing each class on its own (uncached input, cache reads, cache writes 5 min / 1 h,
output with reasoning)."""

from decimal import Decimal

from llm.providers.anthropic_messages import usage_from_anthropic
from llm.providers.contract import Usage
from llm.providers.gemini import usage_from_gemini
from llm.providers.openai_chat import usage_from_openai
from llm.services.token_cost import estimate_cost, worst_case_cost
from llm.tests.routing_support import MINI, mi


def test_openai_counts_cache_reads_inside_prompt_and_reasoning_inside_completion():
    usage = usage_from_openai(
        {
            "prompt_tokens": 2000,
            "completion_tokens": 700,
            "prompt_tokens_details": {"cached_tokens": 1536},
            "completion_tokens_details": {"reasoning_tokens": 512},
        }
    )
    assert usage == Usage(2000, 700, 1536, reasoning_tokens=512)


def test_anthropic_reports_the_cache_beside_input_and_writes_by_ttl():
    usage = usage_from_anthropic(
        {
            "input_tokens": 50,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 3000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 1000,
                "ephemeral_1h_input_tokens": 2000,
            },
            "output_tokens": 80,
        }
    )
    assert usage == Usage(
        4050, 80, 1000, cache_write_tokens=3000, cache_write_1h_tokens=2000, reasoning_tokens=0
    )
    # Without the TTL split every write is a 5-minute one.
    assert usage_from_anthropic(
        {"input_tokens": 5, "cache_creation_input_tokens": 10, "output_tokens": 1}
    ) == Usage(15, 1, 0, cache_write_tokens=10)


def test_gemini_thoughts_are_output_and_reasoning():
    usage = usage_from_gemini(
        {
            "promptTokenCount": 900,
            "cachedContentTokenCount": 300,
            "candidatesTokenCount": 40,
            "thoughtsTokenCount": 60,
        }
    )
    assert usage == Usage(900, 100, 300, reasoning_tokens=60)


CLAUDE = mi("anthropic/claude-x", inp="3", outp="15", cached="0.3")


def _with_writes(model, write: str | None, write_1h: str | None):
    import dataclasses

    return dataclasses.replace(
        model,
        cache_write_price_per_1m=Decimal(write) if write else None,
        cache_write_1h_price_per_1m=Decimal(write_1h) if write_1h else None,
    )


def test_every_class_at_its_own_price():
    model = _with_writes(CLAUDE, "3.75", "6")
    cost = estimate_cost(
        model=model,
        input_tokens=10_000,  # 1000 uncached + 4000 read + 5000 written (2000 for 1 h)
        output_tokens=2000,
        cached_tokens=4000,
        cache_write_tokens=5000,
        cache_write_1h_tokens=2000,
    )
    # 1000 * 3 + 4000 * 0.3 + 3000 * 3.75 + 2000 * 6 + 2000 * 15 = 3000+1200+11250+12000+30000
    assert cost == Decimal("0.05745")


def test_unpriced_classes_fall_back():
    # No write prices: writes at the input price; a 1-hour price missing: the write price.
    plain = estimate_cost(model=CLAUDE, input_tokens=1000, output_tokens=0, cache_write_tokens=1000)
    assert plain == Decimal("0.003")
    only_5m = _with_writes(CLAUDE, "3.75", None)
    assert estimate_cost(
        model=only_5m,
        input_tokens=1000,
        output_tokens=0,
        cache_write_tokens=1000,
        cache_write_1h_tokens=1000,
    ) == Decimal("0.00375")


def test_worst_case_prices_input_at_the_dearest_class():
    assert worst_case_cost(model=MINI, input_tokens=1000, output_tokens=100) == Decimal(
        "0.00021"
    )  # 1000 * 0.15 + 100 * 0.60
    model = _with_writes(CLAUDE, "3.75", "6")
    assert worst_case_cost(model=model, input_tokens=1000, output_tokens=100) == Decimal(
        "0.0075"
    )  # 1000 * 6 + 100 * 15
