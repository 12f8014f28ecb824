"""Reads of the catalog and of tenants' routing configs."""

from collections.abc import Iterable
from typing import TYPE_CHECKING

from llm.models import LLMModel, RoutingConfig

if TYPE_CHECKING:
    from tenants.models import Tenant


def model_resolve(*, ref: str) -> LLMModel | None:
    """An active catalog model by reference (the rule is llm.model_refs.model_ref_resolve)."""
    return LLMModel.objects.resolve(ref=ref)


def embedding_model_resolve(*, ref: str) -> LLMModel | None:
    """An active embedding model by reference (the similarity cache names one)."""
    return LLMModel.objects.filter(kind=LLMModel.Kind.EMBEDDING).resolve(ref=ref)


def models_resolve(*, refs: Iterable[str]) -> dict[str, LLMModel | None]:
    return {ref: model_resolve(ref=ref) for ref in refs}


def routing_config_list(*, tenant: "Tenant"):
    return RoutingConfig.objects.filter(tenant=tenant).order_by("name")


def routing_config_get(*, tenant: "Tenant", name: str) -> RoutingConfig | None:
    return RoutingConfig.objects.filter(tenant=tenant, name=name).first()


def routing_config_default(*, tenant: "Tenant") -> RoutingConfig | None:
    return RoutingConfig.objects.filter(tenant=tenant, is_default=True).first()
