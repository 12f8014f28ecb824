"""The config editor's model picker: every routable catalog model with what a choice needs
(prices per 1M tokens, context window, max output, tiers, capabilities) and a cost tier."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from core.money import money_text
from gateway.services.snapshots import tenant_access_load
from llm.models import LLMModel
from llm.services.routing_snapshots import ModelInfo

if TYPE_CHECKING:
    from tenants.models import Tenant

# Blended price (3 input : 1 output tokens) per 1M tokens at or under which a tier applies.
COST_TIERS = (("free", Decimal(0)), ("low", Decimal("1")), ("medium", Decimal("5")))


def cost_tier(*, input_price: Decimal, output_price: Decimal) -> str:
    """free / low / medium / high, from the price of a typical 3:1 input:output mix."""
    blended = (3 * input_price + output_price) / 4
    for name, ceiling in COST_TIERS:
        if blended <= ceiling:
            return name
    return "high"


def _price(value: Decimal | None) -> str | None:
    return money_text(value, min_places=2) if value is not None else None


def picker_models(*, tenant: Tenant | None = None) -> list[dict]:
    """Active, priced models of active providers, by provider and id; with a tenant, only those
    its plan allows (the router's own rule, llm/services/model_access.py)."""
    access = tenant_access_load(tenant_id=tenant.pk) if tenant is not None else None
    rows = (
        LLMModel.objects.select_related("provider")
        .filter(is_active=True, provider__is_active=True)
        .exclude(input_price_per_1m__isnull=True)
        .exclude(output_price_per_1m__isnull=True)
        .order_by("provider__slug", "model_id")
    )
    return [
        {
            "id": m.qualified_id,
            "provider": m.provider.slug,
            "name": m.display_name or m.model_id,
            "input": _price(m.input_price_per_1m),
            "output": _price(m.output_price_per_1m),
            "cached": _price(m.cached_input_price_per_1m),
            "context_window": m.context_window,
            "max_output": m.max_output_tokens,
            "speed": m.speed_tier,
            "quality": m.quality_tier,
            "capabilities": list(m.capabilities or []),
            "cost_tier": cost_tier(
                input_price=m.input_price_per_1m, output_price=m.output_price_per_1m
            ),
        }
        for m in rows
        if access is None or access.tenant_allows(ModelInfo.from_model(m))
    ]
