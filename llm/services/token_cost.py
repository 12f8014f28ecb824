"""The cost formula: what a number of tokens costs on a model, in USD."""

from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

from core.money import money_quantize

if TYPE_CHECKING:
    from llm.services.routing_snapshots import ModelInfo

_PER_MILLION = Decimal(1_000_000)


def estimate_cost(
    *,
    model: "ModelInfo",
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
) -> Decimal:
    """THE cost formula of the project, in USD.

    Every token class at its own price (per 1M tokens): of `input_tokens`, the `cached_tokens`
    read from the prompt cache at the cached-input price, the `cache_write_tokens` written to it
    at the cache-write price (of which `cache_write_1h_tokens` at the one-hour write price), the
    rest at the input price; `output_tokens` (reasoning included: every provider bills thinking
    as output) at the output price. A class without a price of its own falls back: cache reads
    and writes to the input price, one-hour writes to the cache-write price. The result is
    quantized to 10 decimal places (ROUND_HALF_UP), the precision usage events store, so sums of
    stored costs are exact."""
    input_price, output_price = _prices(model)
    counts = (input_tokens, output_tokens, cached_tokens, cache_write_tokens, cache_write_1h_tokens)
    if min(counts) < 0:
        raise ValueError("Token counts cannot be negative.")
    cached_price = _or(model.cached_input_price_per_1m, input_price)
    write_price = _or(model.cache_write_price_per_1m, input_price)
    write_1h_price = _or(model.cache_write_1h_price_per_1m, write_price)
    write_1h = min(cache_write_1h_tokens, cache_write_tokens)
    uncached = max(input_tokens - cached_tokens - cache_write_tokens, 0)
    with localcontext() as ctx:
        ctx.prec = 50
        total = (
            uncached * input_price
            + cached_tokens * cached_price
            + (cache_write_tokens - write_1h) * write_price
            + write_1h * write_1h_price
            + output_tokens * output_price
        ) / _PER_MILLION
        return money_quantize(total)


def worst_case_cost(*, model: "ModelInfo", input_tokens: int, output_tokens: int) -> Decimal:
    """The most `input_tokens` in and `output_tokens` out can cost on `model`: every input token
    at the dearest input class (a cache write costs more than plain input), for budget holds."""
    input_price, output_price = _prices(model)
    dearest = max(
        input_price,
        model.cache_write_price_per_1m or input_price,
        model.cache_write_1h_price_per_1m or input_price,
    )
    with localcontext() as ctx:
        ctx.prec = 50
        total = (input_tokens * dearest + output_tokens * output_price) / _PER_MILLION
        return money_quantize(total)


def _prices(model: "ModelInfo") -> tuple[Decimal, Decimal]:
    """The model's input and output prices per 1M tokens; ValueError if it has none."""
    input_price, output_price = model.input_price_per_1m, model.output_price_per_1m
    if input_price is None or output_price is None:
        raise ValueError(f"{model.qualified_id} has no price.")
    return input_price, output_price


def _or(price: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if price is None else price
