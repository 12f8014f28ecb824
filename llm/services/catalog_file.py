"""Our catalog file (`llm/catalog/catalog.json`, format `tollgate-catalog/1`): read and validate it.

Validation collects every error before refusing the file (CatalogInvalid lists them all), so a
catalog edit is fixed in one round. Prices are Decimal USD per 1M tokens, written as JSON
strings; a price that is `null` (or absent when the model is created) is unknown: the model is
stored but `is_priced` is false and routing refuses it.
"""

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.errors import InvalidRequest
from llm.models import AuthStyle, LLMModel, WireFormat, normalize_price

CATALOG_PATH = Path(__file__).resolve().parent.parent / "catalog" / "catalog.json"
CATALOG_FORMAT = "tollgate-catalog/1"
CAPABILITIES = frozenset(
    {
        "tools",
        "vision",
        "json_mode",
        "structured_output",
        "streaming",
        "reasoning",
        "web_search",
        "dimensions",  # an embedding model that shortens its vectors on request
    }
)
PRICE_KEYS = {
    "input": "input_price_per_1m",
    "output": "output_price_per_1m",
    "cached_input": "cached_input_price_per_1m",
    "cache_write": "cache_write_price_per_1m",  # Anthropic: 1.25x input (5-minute cache)
    "cache_write_1h": "cache_write_1h_price_per_1m",  # Anthropic: 2x input (1-hour cache)
}
PRICE_PLACES = 6  # LLMModel price columns: decimal_places=6


class CatalogInvalid(InvalidRequest):
    code = "invalid_catalog"

    def __init__(self, errors: list[str]):
        super().__init__("Invalid catalog: " + "; ".join(errors[:20]), extra={"errors": errors})
        self.errors = errors


def catalog_json_read(*, path: Path) -> Any:
    """A JSON file's content; an unreadable or non-JSON file is CatalogInvalid (our catalog
    and LiteLLM's map alike)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogInvalid([f"{path}: cannot read ({exc.strerror})."]) from exc
    except json.JSONDecodeError as exc:
        raise CatalogInvalid([f"{path}: not JSON ({exc})."]) from exc


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
    if price.as_tuple().exponent < -PRICE_PLACES:
        errors.append(f"{path}: more than {PRICE_PLACES} decimal places.")
        return None
    return normalize_price(price)


def _positive_int(value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        errors.append(f"{path}: must be a positive integer.")


def _count(value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.append(f"{path}: must be an integer >= 0.")


def _optional_types(spec: dict, path: str, errors: list[str], strings: tuple[str, ...]) -> None:
    for key in strings:
        if key in spec and not isinstance(spec[key], str):
            errors.append(f"{path}.{key}: must be a string.")
    if "is_active" in spec and not isinstance(spec["is_active"], bool):
        errors.append(f"{path}.is_active: must be true or false.")


def _check_unique(
    items: list,
    path: str,
    key: str,
    check: Callable[[Any, str, list[str]], dict | None],
    errors: list[str],
) -> list[dict]:
    """Each item checked at `path[i]`, and `key` unique among them (models by id within a
    provider, providers by slug)."""
    checked, seen = [], set()
    for i, item in enumerate(items):
        item = check(item, f"{path}[{i}]", errors)
        if item is None:
            continue
        if item.get(key) in seen:
            errors.append(f"{path}[{i}].{key}: duplicate {item[key]!r}.")
        seen.add(item.get(key))
        checked.append(item)
    return checked


def _check_model(spec: Any, path: str, errors: list[str]) -> dict | None:
    if not isinstance(spec, dict):
        errors.append(f"{path}: must be an object.")
        return None
    if not isinstance(spec.get("id"), str) or not spec["id"].strip():
        errors.append(f"{path}.id: required, a non-empty string.")
    _optional_types(spec, path, errors, ("name", "litellm_key"))
    kind = spec.get("kind", LLMModel.Kind.CHAT)
    if kind not in LLMModel.Kind.values:
        errors.append(f"{path}.kind: must be one of {LLMModel.Kind.values}.")
    _positive_int(spec.get("context_window"), f"{path}.context_window", errors)
    if kind == LLMModel.Kind.EMBEDDING:  # embeddings generate no tokens: 0 is their maximum
        _count(spec.get("max_output_tokens"), f"{path}.max_output_tokens", errors)
    else:
        _positive_int(spec.get("max_output_tokens"), f"{path}.max_output_tokens", errors)
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
    if not isinstance(spec.get("first_party", False), bool):
        errors.append(f"{path}.first_party: must be true or false.")
    models = spec.get("models", [])
    if not isinstance(models, list):
        errors.append(f"{path}.models: must be a list.")
        models = []
    checked = _check_unique(models, f"{path}.models", "id", _check_model, errors)
    return {**spec, "models": checked}


def catalog_parse(*, data: Any) -> list[dict]:
    """Validate a catalog document; return its providers (each with its models) or raise."""
    errors: list[str] = []
    if not isinstance(data, dict) or data.get("format") != CATALOG_FORMAT:
        raise CatalogInvalid([f'format: expected an object with "format": {CATALOG_FORMAT!r}.'])
    providers = data.get("providers")
    if not isinstance(providers, list):
        raise CatalogInvalid(["providers: must be a list."])
    checked = _check_unique(providers, "providers", "slug", _check_provider, errors)
    if errors:
        raise CatalogInvalid(errors)
    return checked


def catalog_read(*, path: Path | str | None = None) -> list[dict]:
    """Read and validate a catalog file (the shipped one by default)."""
    path = Path(path) if path else CATALOG_PATH
    return catalog_parse(data=catalog_json_read(path=path))
