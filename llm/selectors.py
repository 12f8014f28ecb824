"""Reads of the catalog and of tenants' routing configs."""

from collections.abc import Iterable

from llm.models import LLMModel, RoutingConfig
from tenants.models import Tenant


def model_resolve(*, ref: str) -> LLMModel | None:
    """A catalog model by `provider/model_id` or by a bare `model_id` that only one provider has."""
    models = LLMModel.objects.select_related("provider").filter(
        is_active=True, provider__is_active=True
    )
    if "/" in ref:
        provider_slug, model_id = ref.split("/", 1)
        found = models.filter(provider__slug=provider_slug, model_id=model_id).first()
        if found is not None:
            return found
    matches = list(models.filter(model_id=ref)[:2])
    return matches[0] if len(matches) == 1 else None


def models_resolve(*, refs: Iterable[str]) -> dict[str, LLMModel | None]:
    return {ref: model_resolve(ref=ref) for ref in refs}


def routing_config_list(*, tenant: Tenant):
    return RoutingConfig.objects.filter(tenant=tenant).order_by("name")


def routing_config_get(*, tenant: Tenant, name: str) -> RoutingConfig | None:
    return RoutingConfig.objects.filter(tenant=tenant, name=name).first()


def routing_config_default(*, tenant: Tenant) -> RoutingConfig | None:
    return RoutingConfig.objects.filter(tenant=tenant, is_default=True).first()
