"""The config editor's drafts: a routing config as the editor posts it (the API's JSON shape),
checked by the API's own serializer (the same rule language, errors named by path), saved by
the routing-config services, and previewed by the route-preview service over the draft instead
of the saved config."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.api_errors import flatten_errors
from core.errors import ApplicationError
from gateway.services.route_preview import route_preview
from llm.api.serializers import RoutingConfigSerializer
from llm.services import routing_configs
from llm.services.routing_snapshots import ConfigInfo, tenant_configs_load

if TYPE_CHECKING:
    from llm.models import RoutingConfig
    from tenants.models import Tenant

MAX_DRAFT_BYTES = 200_000


class DraftInvalid(Exception):
    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("Invalid routing config.")
        self.fields = fields


def draft_parse(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_DRAFT_BYTES:
        raise DraftInvalid({"config": ["The config is too large."]})
    try:
        draft = json.loads(raw or "{}")
    except ValueError as exc:
        raise DraftInvalid({"config": [f"Not valid JSON: {exc}"]}) from exc
    if not isinstance(draft, dict):
        raise DraftInvalid({"config": ["Must be a JSON object."]})
    return draft


def draft_validate(
    *, tenant: Tenant, draft: dict[str, Any], config: RoutingConfig | None
) -> dict[str, Any]:
    """The draft's validated fields, or DraftInvalid naming each bad field by its path."""
    serializer = RoutingConfigSerializer(config, data=draft, context={"tenant": tenant})
    if not serializer.is_valid():
        raise DraftInvalid(flatten_errors(serializer.errors))
    data = dict(serializer.validated_data)
    data.pop("updated_at", None)
    return data


def draft_save(
    *, tenant: Tenant, draft: dict[str, Any], config: RoutingConfig | None
) -> RoutingConfig:
    data = draft_validate(tenant=tenant, draft=draft, config=config)
    try:
        if config is None:
            return routing_configs.routing_config_create(tenant=tenant, data=data)
        return routing_configs.routing_config_update(config=config, data=data)
    except ApplicationError as exc:
        raise DraftInvalid({"config": [exc.message]}) from exc


def draft_preview(
    *,
    tenant: Tenant,
    draft: dict[str, Any],
    config: RoutingConfig | None,
    task: str = "",
    tags: str = "",
    priority: str = "",
    prompt: str = "",
) -> dict[str, Any]:
    """The route preview of a request sent to the draft (by its name), among the tenant's
    other saved configs, with the editor's hints and sample prompt."""
    data = draft_validate(tenant=tenant, draft=draft, config=config)
    pk = config.pk if config is not None else 0
    info = ConfigInfo(
        pk=pk,
        name=data.get("name", config.name if config else ""),
        is_default=bool(data.get("is_default", config.is_default if config else False)),
        primary_model=data.get("primary_model", config.primary_model if config else ""),
        fallback_models=tuple(data.get("fallback_models", [])),
        use_byok=bool(data.get("use_byok", False)),
        params=dict(data.get("params", {})),
        rules=list(data.get("rules", [])),
        cache_ttl_seconds=int(data.get("cache_ttl_seconds", 0)),
    )
    others = [c for c in tenant_configs_load(tenant_id=tenant.pk) if c.pk != pk]
    if info.is_default:
        others = [c if not c.is_default else _not_default(c) for c in others]
    headers = {"X-Tollgate-Task": task, "X-Tollgate-Priority": priority, "X-Tollgate-Tags": tags}
    body = {"model": info.name, "messages": [{"role": "user", "content": prompt or "Hello"}]}
    try:
        return route_preview(
            tenant=tenant,
            body=body,
            headers={k: v for k, v in headers.items() if v},
            configs=[info, *others],
        )
    except ApplicationError as exc:
        raise DraftInvalid({"preview": [exc.message]}) from exc


def _not_default(config: ConfigInfo) -> ConfigInfo:
    values = {f: getattr(config, f) for f in ConfigInfo.__dataclass_fields__}
    return ConfigInfo(**{**values, "is_default": False})


def config_document(config: RoutingConfig | None) -> dict[str, Any]:
    """A saved config in the editor's (the API's) shape; a new one's defaults."""
    if config is None:
        return {
            "name": "",
            "is_default": False,
            "primary_model": "",
            "fallback_models": [],
            "use_byok": False,
            "params": {},
            "rules": [],
            "cache_ttl_seconds": 0,
        }
    return {field: getattr(config, field) for field in routing_configs.CONFIG_FIELDS}
