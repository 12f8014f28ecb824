"""The candidate chain: the ordered, deduplicated models a decision may try, and the models a
config lets a priority pick from.

Unknown, inactive and unpriced models never enter a chain; each one left out leaves a note for
the route reason.
"""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm.services.model_access import ModelAccess
    from llm.services.routing_snapshots import CatalogIndex, ConfigInfo, ModelInfo


def shorten(text: str, limit: int = 100) -> str:
    """A model ref or rule name as a route reason or an error shows it (they are user input)."""
    return text if len(text) <= limit else text[:limit] + "…"


class RouteChain:
    """An ordered, deduplicated list of usable models, with notes on what was left out."""

    def __init__(self, catalog: "CatalogIndex", access: "ModelAccess | None" = None):
        self.catalog = catalog
        self.access = access
        self.models: list[ModelInfo] = []
        self.notes: list[str] = []
        self._seen: set[str] = set()

    def add(self, ref: Any) -> "ModelInfo | None":
        model = self.catalog.resolve(ref) if isinstance(ref, str) else None
        if model is None:
            self.notes.append(f"skipped {shorten(str(ref))} (unknown or inactive)")
            return None
        if not model.is_priced:
            self.notes.append(f"skipped {model.qualified_id} (no price)")
            return None
        if self.access is not None and not self.access.allows(model):
            self.notes.append(f"skipped {model.qualified_id} (not allowed)")
            return None
        if model.qualified_id not in self._seen:
            self._seen.add(model.qualified_id)
            self.models.append(model)
        return model

    def extend(self, refs: Iterable[Any]) -> None:
        for ref in refs:
            self.add(ref)


def _config_refs(config: "ConfigInfo") -> list[str]:
    """Every model a config names: primary, fallbacks, and anything in its rules."""
    refs = [config.primary_model, *config.fallback_models]
    for rule in config.rules:
        route = rule.get("route") if isinstance(rule, Mapping) else None
        if not isinstance(route, Mapping):
            continue
        if isinstance(route.get("model"), str):
            refs.append(route["model"])
        for arm in route.get("split") or ():
            if isinstance(arm, Mapping) and isinstance(arm.get("model"), str):
                refs.append(arm["model"])
        fallbacks = route.get("fallback_models")
        if isinstance(fallbacks, list):
            refs.extend(r for r in fallbacks if isinstance(r, str))
    return refs


def config_allowed_models(
    config: "ConfigInfo | None", catalog: "CatalogIndex", access: "ModelAccess | None" = None
) -> list["ModelInfo"]:
    """The models a priority may pick from: those the config names; if fewer than two, every
    active priced model of the providers it names. Only models `access` allows."""
    if config is None:
        return []
    chain = RouteChain(catalog, access)
    chain.extend(_config_refs(config))
    models = chain.models
    if len(models) < 2:
        extra = catalog.for_providers(m.provider_slug for m in models)
        seen = {m.qualified_id for m in models}
        models = models + [
            m for m in extra if m.qualified_id not in seen and (access is None or access.allows(m))
        ]
    return models
