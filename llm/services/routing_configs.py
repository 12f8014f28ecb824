"""Writes of tenants' routing configs: validated saves, one default per tenant, preconditions."""

import hashlib
from datetime import datetime
from typing import Any

from django.db import transaction

from core.db import save_or_conflict
from core.errors import Conflict
from llm.models import RoutingConfig
from tenants.models import Tenant

CONFIG_FIELDS = (
    "name",
    "is_default",
    "primary_model",
    "fallback_models",
    "use_byok",
    "params",
    "rules",
    "cache_ttl_seconds",
    "similarity_cache",
)


def config_etag(config: RoutingConfig) -> str:
    """A strong ETag that changes on every save (id + updated_at)."""
    digest = hashlib.sha256(f"{config.pk}:{config.updated_at.isoformat()}".encode()).hexdigest()
    return f'"{digest[:24]}"'


def _etag_matches(if_match: str, etag: str) -> bool:
    candidates = [part.strip() for part in if_match.split(",")]
    weak = etag.removeprefix("W/")
    return "*" in candidates or any(c.removeprefix("W/") == weak for c in candidates)


def _save_config(config: RoutingConfig) -> RoutingConfig:
    """Validate and save; a new default unsets the tenant's old one in the same transaction."""
    if config.is_default:
        # Serialise default switches per tenant (row lock on the tenant): concurrent requests
        # then apply one after the other, the last one wins, and none trips the unique index.
        list(Tenant.objects.select_for_update().filter(pk=config.tenant_id).values_list("pk"))
        (
            RoutingConfig.objects.select_for_update()
            .filter(tenant_id=config.tenant_id, is_default=True)
            .exclude(pk=config.pk)
            .update(is_default=False)
        )
    return save_or_conflict(
        instance=config,
        conflict="A config with this name or a second default was saved meanwhile.",
    )


@transaction.atomic
def routing_config_create(*, tenant: Tenant, data: dict[str, Any]) -> RoutingConfig:
    config = RoutingConfig(tenant=tenant, **{k: v for k, v in data.items() if k in CONFIG_FIELDS})
    return _save_config(config)


@transaction.atomic
def routing_config_update(
    *,
    config: RoutingConfig,
    data: dict[str, Any],
    if_match: str | None = None,
    expected_updated_at: datetime | None = None,
) -> RoutingConfig:
    """Update under a row lock; a stale `If-Match` or `updated_at` precondition is a 409."""
    locked = RoutingConfig.objects.select_for_update().get(pk=config.pk)
    if if_match and not _etag_matches(if_match, config_etag(locked)):
        raise Conflict("The config changed since you read it (If-Match does not match).")
    if expected_updated_at is not None and expected_updated_at != locked.updated_at:
        raise Conflict("The config changed since you read it (updated_at does not match).")
    for field, value in data.items():
        if field in CONFIG_FIELDS:
            setattr(locked, field, value)
    return _save_config(locked)


def routing_config_delete(*, config: RoutingConfig) -> None:
    config.delete()
