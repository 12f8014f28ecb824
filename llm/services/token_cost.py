"""The cost formula: what a number of tokens costs on a model, in USD."""

from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

from core.money import money_quantize

if TYPE_CHECKING:
    from llm.services.routing_snapshots import ModelInfo

_PER_MILLION = Decimal(1_000_000)


def estimate_cost(
    *, model: "ModelInfo", input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> Decimal:
    """THE cost formula of the project, in USD.

    `cached_tokens` is the part of `input_tokens` the provider served from its prompt cache:
    billed at the cached-input price when the model has one, else at the input price; the rest
    of the input at the input price; output at the output price. Prices are per 1M tokens. The
    result is quantized to 10 decimal places (ROUND_HALF_UP), the precision usage events store,
    so sums of stored costs are exact."""
    if not model.is_priced:
        raise ValueError(f"{model.qualified_id} has no price.")
    if min(input_tokens, output_tokens, cached_tokens) < 0:
        raise ValueError("Token counts cannot be negative.")
    cached_price = model.cached_input_price_per_1m
    if cached_price is None:
        cached_price = model.input_price_per_1m
    uncached = max(input_tokens - cached_tokens, 0)
    with localcontext() as ctx:
        ctx.prec = 50
        total = (
            uncached * model.input_price_per_1m
            + cached_tokens * cached_price
            + output_tokens * model.output_price_per_1m
        ) / _PER_MILLION
        return money_quantize(total)
