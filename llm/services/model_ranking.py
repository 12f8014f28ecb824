"""Model ranking: ordering candidates by a priority, and keeping those that can serve a request.

`rank_models` orders by cost, speed, quality or a balanced score; `models_fit` drops models that
lack a capability the request needs (tools, vision, json_mode) when another has it, and models
whose context window cannot hold the request when another can (router module docstring).
"""

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm.services.request_features import RequestFeatures
    from llm.services.routing_snapshots import ModelInfo

_SPEED_RANK = {"fast": 0, "medium": 1, "slow": 2}
_QUALITY_RANK = {"best": 0, "good": 1, "basic": 2}
_QUALITY_POINTS = {"best": 3, "good": 2, "basic": 1}
_SPEED_POINTS = {"fast": 2, "medium": 1, "slow": 0}


def _balanced_score(model: "ModelInfo") -> float:
    """2 x quality points (best 3, good 2, basic 1) + speed points (fast 2, medium 1, slow 0)
    - log2(1 + blended $/1M). Floats rank, they never price anything."""
    return (
        2 * _QUALITY_POINTS.get(model.quality_tier, 2)
        + _SPEED_POINTS.get(model.speed_tier, 1)
        - math.log2(1 + float(model.blended_price_per_1m))
    )


def rank_models(
    models: Iterable["ModelInfo"], priority: str, *, latency_ms: Mapping[str, float] | None = None
) -> list["ModelInfo"]:
    """cost: cheapest blended price; speed: speed tier, then observed latency (when known, by
    qualified id), then price; quality: quality tier, then price; balanced: highest
    `_balanced_score`. Ties break on the qualified id, so the order is deterministic."""
    latency = latency_ms or {}
    keys: dict[str, Callable[[ModelInfo], tuple]] = {
        "cost": lambda m: (m.blended_price_per_1m, m.qualified_id),
        "speed": lambda m: (
            _SPEED_RANK.get(m.speed_tier, 1),
            latency.get(m.qualified_id, math.inf),
            m.blended_price_per_1m,
            m.qualified_id,
        ),
        "quality": lambda m: (
            _QUALITY_RANK.get(m.quality_tier, 1),
            m.blended_price_per_1m,
            m.qualified_id,
        ),
        "balanced": lambda m: (-_balanced_score(m), m.qualified_id),
    }
    if priority not in keys:
        raise ValueError(f"Unknown priority {priority!r}.")
    return sorted(models, key=keys[priority])


def _required_capabilities(features: "RequestFeatures") -> tuple[str, ...]:
    required = []
    if features.has_tools:
        required.append("tools")
    if features.has_images:
        required.append("vision")
    if features.json_mode:
        required.append("json_mode")
    return tuple(required)


def _by_capability(
    models: list["ModelInfo"], required: tuple[str, ...], notes: list[str] | None
) -> list["ModelInfo"]:
    """Keep the models that have the most of the required capabilities (all, when any has)."""
    if not required or not models:
        return models
    scores = [sum(c in m.capabilities for c in required) for m in models]
    best = max(scores)
    if best == 0:
        return models
    kept = [m for m, s in zip(models, scores, strict=True) if s == best]
    if notes is not None:
        for m, s in zip(models, scores, strict=True):
            if s < best:
                missing = ",".join(c for c in required if c not in m.capabilities)
                notes.append(f"skipped {m.qualified_id} (no {missing})")
    return kept


def models_fit(
    models: list["ModelInfo"],
    *,
    features: "RequestFeatures",
    needed_tokens: int,
    larger_pool: Callable[[], list["ModelInfo"]],
    notes: list[str] | None,
) -> list["ModelInfo"]:
    """Capability skipping, then context-window skipping (the router module docstring).

    `larger_pool` is asked only when no model fits; `notes` (None: not wanted) collects why a
    model was left out, for the route reason."""
    required = _required_capabilities(features)
    models = _by_capability(models, required, notes)
    fits = [m for m in models if m.context_window >= needed_tokens]
    if fits:
        if notes is not None:
            for m in models:
                if m.context_window < needed_tokens:
                    notes.append(
                        f"skipped {m.qualified_id} (context {m.context_window} < ~{needed_tokens}"
                        " tokens)"
                    )
        return fits
    if not models:
        return models
    seen = {m.qualified_id for m in models}
    larger = [
        m for m in larger_pool() if m.context_window >= needed_tokens and m.qualified_id not in seen
    ]
    larger = _by_capability(sorted(larger, key=lambda m: m.blended_price_per_1m), required, None)
    if larger and all(c in larger[0].capabilities for c in required):
        if notes is not None:
            notes.append(
                f"no candidate holds ~{needed_tokens} tokens; larger-context "
                f"{larger[0].qualified_id}"
            )
        return larger
    top = max(m.context_window for m in models)
    if notes is not None:
        notes.append(f"no candidate holds ~{needed_tokens} tokens; kept the largest context")
    return [m for m in models if m.context_window == top]


def model_best_fit(
    pool: list["ModelInfo"], *, features: "RequestFeatures", needed_tokens: int
) -> "ModelInfo | None":
    """The first model of a ranked pool that can serve the request (a priority's pick)."""
    fitted = models_fit(
        pool, features=features, needed_tokens=needed_tokens, larger_pool=list, notes=None
    )
    return fitted[0] if fitted else None
