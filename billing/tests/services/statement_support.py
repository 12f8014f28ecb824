"""Statement test data: a catalog whose prices were in force all year, and usage events costed
with the project's own cost formula (as the gateway stamps them)."""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest

from billing.models import UsageEvent
from llm.models import LLMModel, LLMModelPrice
from llm.services.token_cost import estimate_cost

_ids = count()
MODELS = (
    "openai/gpt-4o-mini",
    "openai/gpt-4.1",
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-sonnet-4-5",
)


@pytest.fixture
def priced_catalog(small_catalog):
    """small_catalog's prices in force since 1 Jan 2026; Claude with a cache-write price."""
    LLMModel.objects.filter(provider__slug="anthropic").update(
        cache_write_price_per_1m=Decimal("1.25")
    )
    LLMModelPrice.objects.filter(model__provider__slug="anthropic").update(
        cache_write_price_per_1m=Decimal("1.25")
    )
    LLMModelPrice.objects.update(effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    return small_catalog


def llm_model(qualified: str) -> LLMModel:
    provider, model_id = qualified.split("/", 1)
    return LLMModel.objects.get(provider__slug=provider, model_id=model_id)


def usage_event(
    tenant,
    *,
    at: datetime,
    model: str = "openai/gpt-4o-mini",
    key_source: str = "platform",
    status: str = "success",
    input_tokens: int = 1000,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    output_tokens: int = 100,
    reasoning_tokens: int = 0,
    cost_usd: Decimal | None = None,
) -> UsageEvent:
    """An event costed by `estimate_cost` unless `cost_usd` is given (0 for cache hits and
    rejections, as the gateway records them)."""
    if cost_usd is None:
        billed = status not in ("cache_hit", "rejected")
        cost_usd = (
            estimate_cost(
                model=llm_model(model),
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_tokens=cached_tokens,
                cache_write_tokens=cache_write_tokens,
            )
            if billed
            else Decimal(0)
        )
    return UsageEvent.objects.create(
        tenant=tenant,
        request_id=f"st-{next(_ids)}",
        created_at=at,
        model=model,
        provider=model.split("/", 1)[0],
        key_source=key_source,
        status=status,
        input_tokens=input_tokens,
        cached_tokens=cached_tokens,
        cache_write_tokens=cache_write_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning_tokens,
        cost_usd=cost_usd,
    )
