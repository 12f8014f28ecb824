"""Display names of the ids usage rows carry (configs and API keys), per tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm.models import RoutingConfig
from tenants.models import TenantApiKey

if TYPE_CHECKING:
    from tenants.models import Tenant


def dimension_labels(*, tenant: Tenant) -> dict[str, dict]:
    """Per dimension, value -> label; models and providers are their own labels."""
    configs = dict(RoutingConfig.objects.filter(tenant=tenant).values_list("pk", "name"))
    keys = {
        pk: f"{name} ({prefix}…)"
        for pk, name, prefix in TenantApiKey.objects.filter(tenant=tenant).values_list(
            "pk", "name", "prefix"
        )
    }
    return {"model": {}, "provider": {}, "config": configs, "key": keys}
