"""Refreshing our catalog's prices and limits from LiteLLM's community price map.

LiteLLM's `model_prices_and_context_window.json` prices per token as floats; we store exact
Decimals per 1M tokens at PRICE_PLACES places, so its values are converted through their
shortest repr and float noise is rounded away (with a warning when the rounding is not noise).
"""

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from llm.models import LLMModel, Provider, normalize_price
from llm.services.catalog_changes import (
    CatalogReport,
    Progress,
    catalog_fields_apply,
    catalog_row_save,
)
from llm.services.catalog_file import PRICE_PLACES, CatalogInvalid, catalog_json_read

_FLOAT_NOISE = Decimal("1e-9")

_LITELLM_PRICES = {
    "input_cost_per_token": "input_price_per_1m",
    "output_cost_per_token": "output_price_per_1m",
    "cache_read_input_token_cost": "cached_input_price_per_1m",
    "cache_creation_input_token_cost": "cache_write_price_per_1m",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h_price_per_1m",
}
_LITELLM_LIMITS = {"max_input_tokens": "context_window", "max_output_tokens": "max_output_tokens"}
_LITELLM_CAPABILITIES = {
    "supports_function_calling": "tools",
    "supports_vision": "vision",
    "supports_response_schema": "json_mode",
    "supports_reasoning": "reasoning",
    "supports_web_search": "web_search",
}


def litellm_price_per_1m(value: Any) -> Decimal | None:
    """LiteLLM's per-token float -> our exact Decimal per 1M tokens (1.5e-07 -> 0.15)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    price = Decimal(str(value)) * 1_000_000
    if not price.is_finite() or price < 0:
        return None
    return normalize_price(price)


def litellm_read(*, path: Path | str) -> dict[str, dict]:
    """The map's model entries (its `sample_spec` row left out)."""
    path = Path(path)
    data = catalog_json_read(path=path)
    if not isinstance(data, dict):
        raise CatalogInvalid([f"{path}: expected LiteLLM's map, an object keyed by model."])
    return {k: v for k, v in data.items() if isinstance(v, dict) and k != "sample_spec"}


def litellm_entry_for(*, model: LLMModel, entries: dict[str, dict]) -> tuple[str, dict] | None:
    """The map entry for one of our models.

    LiteLLM keys are `<litellm provider>/<model id>` for most vendors (`gemini/gemini-2.5-flash`,
    `groq/openai/gpt-oss-120b`) and bare ids for OpenAI, Anthropic and some DeepSeek rows, so
    both are tried, and an entry counts only if its `litellm_provider` is this provider's (the
    bare `gpt-4o` row is OpenAI's, not Azure's). `LLMModel.litellm_key` overrides the guess.
    """
    if model.litellm_key:
        entry = entries.get(model.litellm_key)
        return (model.litellm_key, entry) if entry else None
    prefix = model.provider.litellm_provider
    if not prefix:
        return None
    for key in (f"{prefix}/{model.model_id}", model.model_id):
        entry = entries.get(key)
        if entry and entry.get("litellm_provider") == prefix:
            return key, entry
    return None


def _litellm_fields(entry: dict, report: CatalogReport, label: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, attr in _LITELLM_PRICES.items():
        price = litellm_price_per_1m(entry.get(key))
        if price is None:
            continue  # LiteLLM does not know it: keep ours
        if price.as_tuple().exponent < -PRICE_PLACES:
            # Float noise in the map (2.0000000000000002e-07): our columns hold 6 places.
            rounded = normalize_price(price.quantize(Decimal(1).scaleb(-PRICE_PLACES)))
            if abs(rounded - price) >= _FLOAT_NOISE:
                report.warnings.append(f"{label}: {key} {price} rounded to {rounded}")
            price = rounded
        fields[attr] = price
    for key, attr in _LITELLM_LIMITS.items():
        value = entry.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            fields[attr] = value
    return fields


@transaction.atomic
def catalog_refresh_from_litellm(
    *,
    path: Path | str,
    add_new: bool = False,
    today: date | None = None,
    progress: Progress | None = None,
) -> CatalogReport:
    """Refresh prices and limits of our catalog models from LiteLLM's price map.

    Only models already in our catalog are touched (new ones only with `add_new`); a value that
    LiteLLM lacks stays as it was. A price change is stamped with the map as its source.
    """
    entries = litellm_read(path=path)
    today = today or timezone.localdate()
    source = f"litellm:{Path(path).name}"
    report = CatalogReport()
    matched: set[str] = set()
    models = LLMModel.objects.select_related("provider").order_by("provider__slug", "model_id")
    for model in models:
        found = litellm_entry_for(model=model, entries=entries)
        if found is None:
            report.models["not_found"] += 1
            continue
        key, entry = found
        matched.add(key)
        fields = _litellm_fields(entry, report, model.qualified_id)
        prices_before = model.price_tuple()
        if catalog_fields_apply(model, fields, model.qualified_id, report):
            if model.price_tuple() != prices_before:
                model.price_source, model.price_updated_at = source, today
            catalog_row_save(model, model.qualified_id)
            report.models["updated"] += 1
            if progress:
                progress(f"{model.qualified_id}: updated from {key}")
        else:
            report.models["unchanged"] += 1
    if add_new:
        _litellm_add_new(
            entries=entries, matched=matched, source=source, today=today, report=report
        )
    return report


def _litellm_add_new(
    *, entries: dict[str, dict], matched: set[str], source: str, today: date, report: CatalogReport
) -> None:
    """Create chat models that LiteLLM lists for providers we have (by their LiteLLM prefix)."""
    by_prefix = {p.litellm_provider: p for p in Provider.objects.exclude(litellm_provider="")}
    existing = set(LLMModel.objects.values_list("provider_id", "model_id"))
    for key, entry in sorted(entries.items()):
        provider = by_prefix.get(entry.get("litellm_provider", ""))
        if provider is None or key in matched or entry.get("mode") != "chat":
            continue
        model_id = key.removeprefix(f"{provider.litellm_provider}/")
        if (provider.pk, model_id) in existing:
            continue
        label = f"{provider.slug}/{model_id}"
        fields = _litellm_fields(entry, report, label)
        if not {"context_window", "max_output_tokens"} <= fields.keys():
            continue
        caps = ["streaming", *(c for k, c in _LITELLM_CAPABILITIES.items() if entry.get(k))]
        model = LLMModel(
            provider=provider, model_id=model_id, capabilities=caps, price_source=source
        )
        catalog_fields_apply(model, fields, label, report)
        model.price_updated_at = today if model.is_priced else None
        catalog_row_save(model, label)
        existing.add((provider.pk, model_id))
        report.models["created"] += 1
        report.changes.append(f"{label}: added from {key}")
