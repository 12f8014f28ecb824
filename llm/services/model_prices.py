"""The price in force: what a model cost at a given instant, from its price history.

Every price change appends an `LLMModelPrice` row (`LLMModel.save`), so usage is costed at the
price in force when it happened, not at today's price.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from llm.models import LLMModel, LLMModelPrice


@dataclass(frozen=True)
class PriceQuote:
    """Prices (USD per 1M tokens) in force at a point in time."""

    input_price_per_1m: Decimal | None
    output_price_per_1m: Decimal | None
    cached_input_price_per_1m: Decimal | None
    effective_from: datetime | None
    cache_write_price_per_1m: Decimal | None = None
    cache_write_1h_price_per_1m: Decimal | None = None

    @property
    def is_priced(self) -> bool:
        return self.input_price_per_1m is not None and self.output_price_per_1m is not None


def model_price_at(*, model: LLMModel, at: datetime) -> PriceQuote | None:
    """The model's prices in force at `at` (for costing usage that happened then).

    None when `at` precedes the model's first recorded price. A model without any history row
    (created outside the loader before the history existed) is priced at its current fields.
    """
    row = (
        LLMModelPrice.objects.filter(model=model, effective_from__lte=at)
        .order_by("-effective_from", "-id")
        .first()
    )
    if row is not None:
        return PriceQuote(
            input_price_per_1m=row.input_price_per_1m,
            output_price_per_1m=row.output_price_per_1m,
            cached_input_price_per_1m=row.cached_input_price_per_1m,
            cache_write_price_per_1m=row.cache_write_price_per_1m,
            cache_write_1h_price_per_1m=row.cache_write_1h_price_per_1m,
            effective_from=row.effective_from,
        )
    if LLMModelPrice.objects.filter(model=model).exists():
        return None
    return PriceQuote(
        input_price_per_1m=model.input_price_per_1m,
        output_price_per_1m=model.output_price_per_1m,
        cached_input_price_per_1m=model.cached_input_price_per_1m,
        cache_write_price_per_1m=model.cache_write_price_per_1m,
        cache_write_1h_price_per_1m=model.cache_write_1h_price_per_1m,
        effective_from=None,
    )
