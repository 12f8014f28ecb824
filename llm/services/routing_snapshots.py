"""Routing snapshots: the catalog and a tenant's configs as plain in-memory values.

The router decides over these, never over ORM objects, so a warm tenant routes without touching
the database; loading them (one query each) is separate, and the gateway caches them.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llm.model_refs import model_ref_index, model_ref_resolve
from llm.similarity_settings import SimilaritySettings, similarity_settings_from


@dataclass(frozen=True)
class ModelInfo:
    """A plain snapshot of an LLMModel and its Provider (no ORM objects on the hot path)."""

    qualified_id: str
    provider_slug: str
    model_id: str
    model_pk: int
    provider_pk: int
    wire_format: str
    base_url: str
    auth_style: str
    api_key_env: str
    base_url_env: str
    context_window: int
    max_output_tokens: int
    input_price_per_1m: Decimal | None
    output_price_per_1m: Decimal | None
    cached_input_price_per_1m: Decimal | None
    capabilities: tuple[str, ...]
    speed_tier: str
    quality_tier: str
    first_party: bool = False  # the provider makes this model (llm.model_refs)
    cache_write_price_per_1m: Decimal | None = None
    cache_write_1h_price_per_1m: Decimal | None = None
    kind: str = "chat"  # chat | embedding (LLMModel.Kind)
    # Provider features (catalog `features`): serves OpenAI's Responses API natively; accepts
    # Anthropic-style `cache_control` markers in chat content parts (else they are stripped).
    responses_api: bool = False
    accepts_cache_control: bool = False

    @property
    def is_priced(self) -> bool:
        return self.input_price_per_1m is not None and self.output_price_per_1m is not None

    @property
    def blended_price_per_1m(self) -> Decimal:
        """Price of a typical 3:1 input:output token mix; unpriced models rank last."""
        if not self.is_priced:
            return Decimal("Infinity")
        return (3 * self.input_price_per_1m + self.output_price_per_1m) / 4

    @classmethod
    def from_model(cls, model: Any) -> "ModelInfo":
        provider = model.provider
        return cls(
            qualified_id=f"{provider.slug}/{model.model_id}",
            provider_slug=provider.slug,
            model_id=model.model_id,
            model_pk=model.pk,
            provider_pk=provider.pk,
            wire_format=provider.wire_format,
            base_url=provider.base_url,
            auth_style=provider.auth_style,
            api_key_env=provider.api_key_env,
            base_url_env=provider.base_url_env,
            context_window=model.context_window,
            max_output_tokens=model.max_output_tokens,
            input_price_per_1m=model.input_price_per_1m,
            output_price_per_1m=model.output_price_per_1m,
            cached_input_price_per_1m=model.cached_input_price_per_1m,
            capabilities=tuple(c for c in (model.capabilities or []) if isinstance(c, str)),
            speed_tier=model.speed_tier,
            quality_tier=model.quality_tier,
            first_party=provider.first_party,
            cache_write_price_per_1m=model.cache_write_price_per_1m,
            cache_write_1h_price_per_1m=model.cache_write_1h_price_per_1m,
            kind=model.kind,
            responses_api=(provider.features or {}).get("responses_api") is True,
            accepts_cache_control=(provider.features or {}).get("cache_control") is True,
        )


EMBEDDING = "embedding"


class CatalogIndex:
    """The active catalog in memory, resolvable by qualified id or unambiguous bare id.

    Chat models and embedding models are indexed apart: everything chat routing reads
    (`resolve`, `matches`, `all`, `for_providers`) sees chat models only, so no rule, split or
    priority pick can land on an embedding model; `/v1/embeddings` resolves among the others.
    """

    def __init__(self, models: Iterable[ModelInfo], *, inactive_refs: Iterable[str] = ()):
        everything = list(models)
        self._models = [m for m in everything if m.kind != EMBEDDING]
        self._embeddings = [m for m in everything if m.kind == EMBEDDING]
        self._by_qualified, self._by_bare = model_ref_index(
            self._models, qualified_id=lambda m: m.qualified_id
        )
        self._embedding_refs = model_ref_index(
            self._embeddings, qualified_id=lambda m: m.qualified_id
        )
        self._priced = [m for m in self._models if m.is_priced]
        self._inactive = frozenset(inactive_refs)

    def resolve(self, ref: str) -> ModelInfo | None:
        """An active chat model (priced or not) by reference (the rule: llm.model_refs)."""
        return model_ref_resolve(
            ref,
            by_qualified=self._by_qualified,
            by_bare=self._by_bare,
            first_party=lambda model: model.first_party,
        )

    def resolve_embedding(self, ref: str) -> ModelInfo | None:
        """An active embedding model (priced or not) by reference, as `resolve` for chat."""
        by_qualified, by_bare = self._embedding_refs
        return model_ref_resolve(
            ref,
            by_qualified=by_qualified,
            by_bare=by_bare,
            first_party=lambda model: model.first_party,
        )

    def embedding_models(self) -> list[ModelInfo]:
        """Active, priced embedding models: what /v1/embeddings can serve."""
        return [m for m in self._embeddings if m.is_priced]

    def matches(self, ref: str) -> list[ModelInfo]:
        """Every active model a bare id names (more than one means the id is ambiguous)."""
        return list(self._by_bare.get(ref, ()))

    def is_inactive(self, ref: str) -> bool:
        """The ref names a catalog model that exists but is switched off (or its provider is)."""
        return ref in self._inactive and self.resolve(ref) is None

    def all(self) -> list[ModelInfo]:
        """Active, priced models: everything that can be routed to."""
        return list(self._priced)

    def for_providers(self, provider_slugs: Iterable[str]) -> list[ModelInfo]:
        slugs = set(provider_slugs)
        return [m for m in self._priced if m.provider_slug in slugs]


def catalog_index_load() -> CatalogIndex:
    """Read the whole catalog once (one query)."""
    # Django app loading: the router's pure modules import this one before apps are ready.
    from llm.models import LLMModel

    active: list[ModelInfo] = []
    inactive: list[str] = []
    for model in LLMModel.objects.select_related("provider").order_by("provider__slug", "model_id"):
        if model.is_active and model.provider.is_active:
            active.append(ModelInfo.from_model(model))
        else:
            inactive.extend((model.qualified_id, model.model_id))
    return CatalogIndex(active, inactive_refs=inactive)


@dataclass(frozen=True)
class ConfigInfo:
    """A plain snapshot of a RoutingConfig."""

    pk: int
    name: str
    is_default: bool
    primary_model: str
    fallback_models: tuple[str, ...]
    use_byok: bool
    params: dict
    rules: list
    cache_ttl_seconds: int
    similarity: SimilaritySettings | None = None  # the similarity cache, when it is on

    @functools.cached_property
    def reads_budget_state(self) -> bool:
        """Whether a rule depends on budget usage (else the gateway need not read it)."""
        return any(
            isinstance(rule, dict)
            and isinstance(rule.get("when"), dict)
            and "budget_used_pct_gte" in rule["when"]
            for rule in self.rules
        )

    @functools.cached_property
    def reads_complexity(self) -> bool:
        """Whether a rule depends on the prompt's complexity (else the cue scan can be skipped)."""
        return any(
            isinstance(rule, dict)
            and isinstance(rule.get("when"), dict)
            and "complexity" in rule["when"]
            for rule in self.rules
        )

    @classmethod
    def from_config(cls, config: Any) -> "ConfigInfo":
        return cls(
            pk=config.pk,
            name=config.name,
            is_default=config.is_default,
            primary_model=config.primary_model,
            fallback_models=tuple(r for r in (config.fallback_models or []) if isinstance(r, str)),
            use_byok=config.use_byok,
            params=dict(config.params or {}),
            rules=list(config.rules or []),
            cache_ttl_seconds=config.cache_ttl_seconds,
            similarity=similarity_settings_from(getattr(config, "similarity_cache", None)),
        )


def tenant_configs_load(*, tenant_id: int) -> list[ConfigInfo]:
    """The tenant's routing configs (one query)."""
    # Django app loading: the router's pure modules import this one before apps are ready.
    from llm.models import RoutingConfig

    return [
        ConfigInfo.from_config(config)
        for config in RoutingConfig.objects.filter(tenant_id=tenant_id).order_by("name")
    ]
