"""Loading the provider/model catalog from our own file, and refreshing prices from LiteLLM's map.

The catalog file (`llm/catalog/catalog.json`, format `tollgate-catalog/1`) is the source of
truth for the fields it sets. A load overwrites only those fields: a field the file leaves out
(say `capabilities`, or `price.cached_input`) keeps whatever the admin set. Models and
providers missing from the file are never deleted (usage rows may refer to them); they are
deactivated only on request. Every price change appends an `LLMModelPrice` row (see
`LLMModel.save`), so the price in force at any earlier time stays known.

Prices are Decimal USD per 1M tokens. A price that is `null` (or absent when the model is
created) is unknown: the model is stored but `is_priced` is false and routing refuses it.
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import InvalidRequest
from llm.models import (
    AuthStyle,
    LLMModel,
    LLMModelPrice,
    Provider,
    WireFormat,
    normalize_price,
)

CATALOG_PATH = Path(__file__).resolve().parent.parent / "catalog" / "catalog.json"
CATALOG_FORMAT = "tollgate-catalog/1"
CAPABILITIES = frozenset(
    {"tools", "vision", "json_mode", "structured_output", "streaming", "reasoning", "web_search"}
)
PRICE_KEYS = {
    "input": "input_price_per_1m",
    "output": "output_price_per_1m",
    "cached_input": "cached_input_price_per_1m",
}
_PRICE_PLACES = 6  # LLMModel price columns: decimal_places=6
_FLOAT_NOISE = Decimal("1e-9")

Progress = Callable[[str], None]


class CatalogInvalid(InvalidRequest):
    code = "invalid_catalog"

    def __init__(self, errors: list[str]):
        super().__init__("Invalid catalog: " + "; ".join(errors[:20]), extra={"errors": errors})
        self.errors = errors


@dataclass
class CatalogReport:
    """What a load or refresh did; `changes` holds one human-readable line per changed field."""

    providers: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        keys = ("created", "updated", "deactivated")
        return any(self.providers[k] or self.models[k] for k in keys)

    def summary(self) -> str:
        def part(name: str, counts: Counter) -> str:
            keys = ["created", "updated", "unchanged", "deactivated", "not_found"]
            shown = [f"{counts[k]} {k.replace('_', ' ')}" for k in keys if counts[k]]
            return f"{name}: {', '.join(shown) or 'none'}"

        return f"{part('providers', self.providers)}; {part('models', self.models)}"


@dataclass(frozen=True)
class PriceQuote:
    """Prices (USD per 1M tokens) in force at a point in time."""

    input_price_per_1m: Decimal | None
    output_price_per_1m: Decimal | None
    cached_input_price_per_1m: Decimal | None
    effective_from: datetime | None

    @property
    def is_priced(self) -> bool:
        return self.input_price_per_1m is not None and self.output_price_per_1m is not None


# --- reading and validating our file -------------------------------------------------------


def _price(value: Any, path: str, errors: list[str]) -> Decimal | None:
    """Prices are JSON strings (or integers): a float would already have lost exactness."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(f'{path}: must be a decimal string such as "0.15" or null.')
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        errors.append(f"{path}: {value!r} is not a decimal number.")
        return None
    if not price.is_finite() or price < 0:
        errors.append(f"{path}: must be a finite number >= 0.")
        return None
    if price.as_tuple().exponent < -_PRICE_PLACES:
        errors.append(f"{path}: more than {_PRICE_PLACES} decimal places.")
        return None
    return normalize_price(price)


def _positive_int(value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        errors.append(f"{path}: must be a positive integer.")


def _optional_types(spec: dict, path: str, errors: list[str], strings: tuple[str, ...]) -> None:
    for key in strings:
        if key in spec and not isinstance(spec[key], str):
            errors.append(f"{path}.{key}: must be a string.")
    if "is_active" in spec and not isinstance(spec["is_active"], bool):
        errors.append(f"{path}.is_active: must be true or false.")


def _check_model(spec: Any, path: str, errors: list[str]) -> dict | None:
    if not isinstance(spec, dict):
        errors.append(f"{path}: must be an object.")
        return None
    if not isinstance(spec.get("id"), str) or not spec["id"].strip():
        errors.append(f"{path}.id: required, a non-empty string.")
    _optional_types(spec, path, errors, ("name", "litellm_key"))
    for key in ("context_window", "max_output_tokens"):
        _positive_int(spec.get(key), f"{path}.{key}", errors)
    caps = spec.get("capabilities", [])
    if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
        errors.append(f"{path}.capabilities: must be a list of strings.")
    elif unknown := sorted(set(caps) - CAPABILITIES):
        errors.append(f"{path}.capabilities: unknown {unknown}; known: {sorted(CAPABILITIES)}.")
    for key, choices in (
        ("speed_tier", LLMModel.SpeedTier.values),
        ("quality_tier", LLMModel.QualityTier.values),
    ):
        if key in spec and spec[key] not in choices:
            errors.append(f"{path}.{key}: must be one of {choices}.")
    price = spec.get("price")
    prices: dict[str, Decimal | None] = {}
    if price is not None:
        if not isinstance(price, dict):
            errors.append(f"{path}.price: must be an object.")
        else:
            for key in price.keys() - {*PRICE_KEYS, "source", "date"}:
                errors.append(f"{path}.price.{key}: unknown key.")
            for key in PRICE_KEYS:
                if key in price:
                    prices[key] = _price(price[key], f"{path}.price.{key}", errors)
            if (prices.get("input") is None) != (prices.get("output") is None):
                errors.append(f"{path}.price: input and output are both known or both null.")
            if "date" in price:
                try:
                    date.fromisoformat(price["date"])
                except (TypeError, ValueError):
                    errors.append(f"{path}.price.date: must be YYYY-MM-DD.")
    return {**spec, "_prices": prices}


def _check_provider(spec: Any, path: str, errors: list[str]) -> dict | None:
    if not isinstance(spec, dict):
        errors.append(f"{path}: must be an object.")
        return None
    for key in ("slug", "name", "base_url"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            errors.append(f"{path}.{key}: required, a non-empty string.")
    _optional_types(spec, path, errors, ("api_key_env", "litellm_provider"))
    if spec.get("wire_format") not in WireFormat.values:
        errors.append(f"{path}.wire_format: must be one of {WireFormat.values}.")
    if spec.get("auth_style", AuthStyle.BEARER) not in AuthStyle.values:
        errors.append(f"{path}.auth_style: must be one of {AuthStyle.values}.")
    if not isinstance(spec.get("features", {}), dict):
        errors.append(f"{path}.features: must be an object.")
    models = spec.get("models", [])
    if not isinstance(models, list):
        errors.append(f"{path}.models: must be a list.")
        models = []
    checked, seen = [], set()
    for i, model in enumerate(models):
        model = _check_model(model, f"{path}.models[{i}]", errors)
        if model is None:
            continue
        if model.get("id") in seen:
            errors.append(f"{path}.models[{i}].id: duplicate {model['id']!r}.")
        seen.add(model.get("id"))
        checked.append(model)
    return {**spec, "models": checked}


def catalog_parse(*, data: Any) -> list[dict]:
    """Validate a catalog document; return its providers (each with its models) or raise."""
    errors: list[str] = []
    if not isinstance(data, dict) or data.get("format") != CATALOG_FORMAT:
        raise CatalogInvalid([f'format: expected an object with "format": {CATALOG_FORMAT!r}.'])
    providers = data.get("providers")
    if not isinstance(providers, list):
        raise CatalogInvalid(["providers: must be a list."])
    checked, seen = [], set()
    for i, spec in enumerate(providers):
        spec = _check_provider(spec, f"providers[{i}]", errors)
        if spec is None:
            continue
        if spec.get("slug") in seen:
            errors.append(f"providers[{i}].slug: duplicate {spec['slug']!r}.")
        seen.add(spec.get("slug"))
        checked.append(spec)
    if errors:
        raise CatalogInvalid(errors)
    return checked


def catalog_read(*, path: Path | str | None = None) -> list[dict]:
    """Read and validate a catalog file (the shipped one by default)."""
    path = Path(path) if path else CATALOG_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogInvalid([f"{path}: cannot read ({exc.strerror})."]) from exc
    except json.JSONDecodeError as exc:
        raise CatalogInvalid([f"{path}: not JSON ({exc})."]) from exc
    return catalog_parse(data=data)


# --- applying it ---------------------------------------------------------------------------


def _provider_fields(spec: dict) -> dict[str, Any]:
    fields = {
        "name": spec["name"],
        "wire_format": spec["wire_format"],
        "base_url": spec["base_url"],
    }
    optional = {
        "auth_style": "auth_style",
        "features": "features",
        "api_key_env": "api_key_env",
        "litellm_provider": "litellm_provider",
        "is_active": "is_active",
    }
    fields.update({attr: spec[key] for key, attr in optional.items() if key in spec})
    return fields


def _model_fields(spec: dict) -> dict[str, Any]:
    fields = {
        "context_window": spec["context_window"],
        "max_output_tokens": spec["max_output_tokens"],
    }
    optional = {
        "name": "display_name",
        "capabilities": "capabilities",
        "speed_tier": "speed_tier",
        "quality_tier": "quality_tier",
        "litellm_key": "litellm_key",
        "is_active": "is_active",
    }
    fields.update({attr: spec[key] for key, attr in optional.items() if key in spec})
    for key, price in spec["_prices"].items():
        fields[PRICE_KEYS[key]] = price
    price = spec.get("price") or {}
    if "source" in price:
        fields["price_source"] = price["source"]
    if "date" in price:
        fields["price_updated_at"] = date.fromisoformat(price["date"])
    return fields


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal | int) and isinstance(new, Decimal | int):
        return normalize_price(old) == normalize_price(new)
    return old == new


def _apply(instance, fields: dict[str, Any], label: str, report: CatalogReport) -> list[str]:
    """Set the fields that differ; return the names of those that changed."""
    changed = []
    for name, new in fields.items():
        old = getattr(instance, name)
        if _same(old, new):
            continue
        changed.append(name)
        if instance.pk is not None:
            report.changes.append(f"{label}: {name} {_show(old)} -> {_show(new)}")
        setattr(instance, name, new)
    return changed


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(normalize_price(value))
    return "null" if value is None else str(value)


def _save(instance, label: str) -> None:
    try:
        instance.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise CatalogInvalid([f"{label}: {exc.message_dict}"]) from exc
    instance.save()


@transaction.atomic
def catalog_load(
    *,
    path: Path | str | None = None,
    deactivate_missing: bool = False,
    progress: Progress | None = None,
) -> CatalogReport:
    """Create or update providers and models from a catalog file, in one transaction.

    Idempotent: a second run with the same file changes nothing and reports so.
    """
    specs = catalog_read(path=path)
    report = CatalogReport()
    providers = {p.slug: p for p in Provider.objects.all()}
    seen_models: set[tuple[str, str]] = set()
    for spec in specs:
        slug = spec["slug"]
        provider = providers.get(slug) or Provider(slug=slug)
        created = provider.pk is None
        if _apply(provider, _provider_fields(spec), slug, report) or created:
            _save(provider, slug)
            status = "created" if created else "updated"
        else:
            status = "unchanged"
        report.providers[status] += 1
        counts = _load_models(provider=provider, specs=spec["models"], report=report)
        seen_models.update((slug, model["id"]) for model in spec["models"])
        if progress:
            shown = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if n)
            progress(f"{slug}: provider {status}; models {shown or 'none'}")
    if deactivate_missing:
        _deactivate_missing(
            provider_slugs={s["slug"] for s in specs}, model_keys=seen_models, report=report
        )
    return report


def _load_models(*, provider: Provider, specs: list[dict], report: CatalogReport) -> Counter:
    existing = {m.model_id: m for m in LLMModel.objects.filter(provider=provider)}
    counts: Counter = Counter()
    for spec in specs:
        model = existing.get(spec["id"]) or LLMModel(provider=provider, model_id=spec["id"])
        created = model.pk is None
        label = f"{provider.slug}/{spec['id']}"
        if _apply(model, _model_fields(spec), label, report) or created:
            _save(model, label)
            counts["created" if created else "updated"] += 1
        else:
            counts["unchanged"] += 1
    report.models.update(counts)
    return counts


def _deactivate_missing(
    *, provider_slugs: set[str], model_keys: set[tuple[str, str]], report: CatalogReport
) -> None:
    for provider in Provider.objects.filter(is_active=True).exclude(slug__in=provider_slugs):
        provider.is_active = False
        provider.save(update_fields=["is_active", "updated_at"])
        report.providers["deactivated"] += 1
        report.changes.append(f"{provider.slug}: deactivated (not in the file)")
    for model in LLMModel.objects.filter(is_active=True).select_related("provider"):
        if (model.provider.slug, model.model_id) not in model_keys:
            model.is_active = False
            model.save(update_fields=["is_active", "updated_at"])
            report.models["deactivated"] += 1
            report.changes.append(f"{model.qualified_id}: deactivated (not in the file)")


# --- LiteLLM's community price map ----------------------------------------------------------

_LITELLM_PRICES = {
    "input_cost_per_token": "input_price_per_1m",
    "output_cost_per_token": "output_price_per_1m",
    "cache_read_input_token_cost": "cached_input_price_per_1m",
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
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogInvalid([f"{path}: cannot read ({exc.strerror})."]) from exc
    except json.JSONDecodeError as exc:
        raise CatalogInvalid([f"{path}: not JSON ({exc})."]) from exc
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
        if price.as_tuple().exponent < -_PRICE_PLACES:
            # Float noise in the map (2.0000000000000002e-07): our columns hold 6 places.
            rounded = normalize_price(price.quantize(Decimal(1).scaleb(-_PRICE_PLACES)))
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
        if _apply(model, fields, model.qualified_id, report):
            if model.price_tuple() != prices_before:
                model.price_source, model.price_updated_at = source, today
            _save(model, model.qualified_id)
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
        _apply(model, fields, label, report)
        model.price_updated_at = today if model.is_priced else None
        _save(model, label)
        existing.add((provider.pk, model_id))
        report.models["created"] += 1
        report.changes.append(f"{label}: added from {key}")


# --- price in force --------------------------------------------------------------------------


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
            effective_from=row.effective_from,
        )
    if LLMModelPrice.objects.filter(model=model).exists():
        return None
    return PriceQuote(
        input_price_per_1m=model.input_price_per_1m,
        output_price_per_1m=model.output_price_per_1m,
        cached_input_price_per_1m=model.cached_input_price_per_1m,
        effective_from=None,
    )
