"""A routing config's similarity (semantic) cache settings: the `similarity_cache` object.

`{"enabled": true, "embedding_model": "openai/text-embedding-3-small", "threshold": 0.95,
"max_entries": 1000, "ttl_seconds": 86400, "dimensions": null, "allow_tools": false,
"allow_temperature": false}`; every field but `enabled` and `embedding_model` is optional.
An empty object (the default) is off. Pure: the caller passes the catalog lookups, as for
llm.rules, so the API, the admin and the snapshots check the same way.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FIELD = "similarity_cache"
DEFAULT_THRESHOLD = 0.95
DEFAULT_MAX_ENTRIES = 1000
DEFAULT_TTL_SECONDS = 86400
MAX_ENTRIES_LIMIT = 10_000  # the exact search's bound (bench/similarity_lookup.py)
MAX_TTL_SECONDS = 30 * 86400
MAX_DIMENSIONS = 4096

ModelLookup = Callable[[str], Any | None]


@dataclass(frozen=True)
class SimilaritySettings:
    enabled: bool = False
    embedding_model: str = ""
    threshold: float = DEFAULT_THRESHOLD
    max_entries: int = DEFAULT_MAX_ENTRIES
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    dimensions: int | None = None  # asked of the embedding model (one that shortens vectors)
    allow_tools: bool = False
    allow_temperature: bool = False  # serve requests with temperature other than 0


_BOOLS = ("enabled", "allow_tools", "allow_temperature")
_INTS = {
    "max_entries": (1, MAX_ENTRIES_LIMIT),
    "ttl_seconds": (1, MAX_TTL_SECONDS),
    "dimensions": (1, MAX_DIMENSIONS),
}
_KNOWN = frozenset({*_BOOLS, *_INTS, "embedding_model", "threshold"})


def similarity_settings_from(value: Any) -> SimilaritySettings | None:
    """The settings of a saved config when it is on (None when off or not valid)."""
    if not isinstance(value, dict) or value.get("enabled") is not True:
        return None
    if _shape_errors(value):
        return None
    known = {k: v for k, v in value.items() if k in _KNOWN}
    if known.get("threshold") is not None:
        known["threshold"] = float(known["threshold"])
    return SimilaritySettings(**{k: v for k, v in known.items() if v is not None})


def validate_similarity_cache(
    value: Any, *, resolve_embedding: ModelLookup, resolve_chat: ModelLookup
) -> dict[str, str]:
    """Field path -> message for everything wrong with the object; empty when it is valid."""
    if value in (None, {}):
        return {}
    if not isinstance(value, dict):
        return {FIELD: "Must be an object (or {} for off)."}
    errors = _shape_errors(value)
    ref = value.get("embedding_model")
    path = f"{FIELD}.embedding_model"
    if value.get("enabled") is True and not ref and path not in errors:
        errors[path] = "Required when the similarity cache is enabled: an embedding model."
    elif isinstance(ref, str) and ref and path not in errors:
        model = resolve_embedding(ref)
        if model is None:
            errors[path] = (
                f"{ref!r} is a chat model; the similarity cache needs an embedding model."
                if resolve_chat(ref) is not None
                else f"Unknown or inactive embedding model {ref!r}."
            )
        elif value.get("dimensions") is not None and "dimensions" not in _capabilities(model):
            errors[f"{FIELD}.dimensions"] = (
                f"{ref!r} returns vectors of one size only: leave 'dimensions' out."
            )
    return errors


def _shape_errors(value: dict) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key in sorted(set(value) - _KNOWN):
        errors[f"{FIELD}.{key}"] = f"Unknown field; allowed: {', '.join(sorted(_KNOWN))}."
    for key in _BOOLS:
        if key in value and not isinstance(value[key], bool):
            errors[f"{FIELD}.{key}"] = "Must be true or false."
    for key, (low, high) in _INTS.items():
        item = value.get(key)
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
            errors[f"{FIELD}.{key}"] = f"Must be an integer from {low} to {high}."
    threshold = value.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < threshold <= 1
    ):
        errors[f"{FIELD}.threshold"] = "Must be a number above 0 and at most 1 (cosine)."
    ref = value.get("embedding_model")
    if ref is not None and (not isinstance(ref, str) or len(ref) > 260):
        errors[f"{FIELD}.embedding_model"] = "Must be a catalog model id (a string)."
    return errors


def _capabilities(model: Any) -> list:
    return list(getattr(model, "capabilities", None) or [])
