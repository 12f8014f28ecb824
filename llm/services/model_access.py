"""Model access: which models and routing configs one request may use.

Two layers meet here: the tenant's plan (set by the operator: providers and models the tenant
may use, and which keyless local providers it sees) and the API key's own restriction (set by a
tenant admin: models and / or routing configs). Pure and Django-free, so the router and the
models list apply the same rule over in-memory snapshots.

Semantics (README "Model access"): an empty list is no restriction, except that a keyless
local provider (`auth_style` none, no `api_key_env`: Ollama, vLLM in the catalog; a provider
with a key variable but none set is reached by BYOK only and is not one) is visible only when
the operator enabled it for the tenant. A key limited to routing configs only (no models) calls
through those configs; a catalog model requested directly is then refused.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm.services.routing_snapshots import ModelInfo


def is_keyless_local(model: "ModelInfo") -> bool:
    """A provider that needs no key (a self-hosted server): opt-in per tenant."""
    return model.auth_style == "none"


def _names(values: Iterable[object] | None) -> frozenset[str]:
    return frozenset(v.strip() for v in values or () if isinstance(v, str) and v.strip())


def _names_model(names: frozenset[str], model: "ModelInfo") -> bool:
    return model.qualified_id in names or model.model_id in names


@dataclass(frozen=True)
class ModelAccess:
    """The allowed sets of one key within its tenant's plan; empty sets restrict nothing."""

    tenant_providers: frozenset[str] = frozenset()
    tenant_models: frozenset[str] = frozenset()
    local_providers: frozenset[str] = frozenset()
    key_models: frozenset[str] = frozenset()
    key_configs: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        tenant_providers: Iterable[object] | None = None,
        tenant_models: Iterable[object] | None = None,
        local_providers: Iterable[object] | None = None,
        key_models: Iterable[object] | None = None,
        key_configs: Iterable[object] | None = None,
    ) -> "ModelAccess":
        """From stored JSON lists (anything not a non-empty string is ignored)."""
        return cls(
            tenant_providers=_names(tenant_providers),
            tenant_models=_names(tenant_models),
            local_providers=_names(local_providers),
            key_models=_names(key_models),
            key_configs=_names(key_configs),
        )

    def for_key(
        self, *, models: Iterable[object] | None, configs: Iterable[object] | None
    ) -> "ModelAccess":
        """This tenant plan narrowed by one key's lists."""
        return ModelAccess(
            tenant_providers=self.tenant_providers,
            tenant_models=self.tenant_models,
            local_providers=self.local_providers,
            key_models=_names(models),
            key_configs=_names(configs),
        )

    def tenant_allows(self, model: "ModelInfo") -> bool:
        """The tenant's plan alone (what the operator enabled)."""
        if is_keyless_local(model):
            if model.provider_slug not in self.local_providers:
                return False
        elif self.tenant_providers and model.provider_slug not in self.tenant_providers:
            return False
        return not self.tenant_models or _names_model(self.tenant_models, model)

    def allows(self, model: "ModelInfo") -> bool:
        """May this request be served by `model` (routed to, or as a fallback)?"""
        if not self.tenant_allows(model):
            return False
        return not self.key_models or _names_model(self.key_models, model)

    def allows_config(self, name: str) -> bool:
        return not self.key_configs or name in self.key_configs

    @property
    def allows_direct(self) -> bool:
        """May the key name a catalog model (not a config)? Not when limited to configs only."""
        return bool(self.key_models) or not self.key_configs


UNRESTRICTED = ModelAccess()
