"""The dry run behind POST /api/v1/route/preview/: the router's decision and its worst-case cost."""

from collections.abc import Mapping
from typing import Any

from billing.services.budgets import budget_used_pct_sync
from core.errors import InvalidRequest
from gateway.services.request_parsing import requested_model_of
from gateway.services.snapshots import tenant_access_load
from llm.services.request_features import int_or_none, request_features_from
from llm.services.router import config_for_model, route_request
from llm.services.routing_hints import routing_hints_from
from llm.services.routing_snapshots import ConfigInfo, catalog_index_load, tenant_configs_load
from llm.services.token_cost import estimate_cost


def route_preview(
    *,
    tenant: Any,
    body: Mapping,
    headers: Mapping[str, str],
    configs: list[ConfigInfo] | None = None,
    api_key: Any = None,
) -> dict:
    """The decision for a request without calling a provider (POST /api/v1/route/preview/).

    `estimated_cost_usd` is the worst case: the estimated input plus the requested max output
    (body, else config params, else the model's maximum), at the first candidate's prices.
    `configs` replaces the tenant's saved configs (the config editor previews a draft). The
    tenant's plan applies, and `api_key`'s own lists when an API key asks (`model_access`)."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("The body must be a JSON object.")
    requested = requested_model_of(body=body)
    hints = routing_hints_from(body=body, headers=headers)
    features = request_features_from(body=body)
    if configs is None:
        configs = tenant_configs_load(tenant_id=tenant.pk)
    catalog = catalog_index_load()
    access = tenant_access_load(tenant_id=tenant.pk)
    if api_key is not None:
        access = access.for_key(models=api_key.allowed_models, configs=api_key.allowed_configs)
    governing = config_for_model(requested_model=requested, configs=configs)
    used = budget_used_pct_sync(tenant_id=tenant.pk, config_id=governing.pk if governing else None)
    decision = route_request(
        requested_model=requested,
        configs=configs,
        catalog=catalog,
        hints=hints,
        features=features,
        budget_used_pct=used,
        access=access,
    )
    first = decision.candidates[0]
    output = features.requested_max_tokens
    if output is None:
        output = int_or_none(decision.params.get("max_tokens"))
    output = first.max_output_tokens if output is None else min(output, first.max_output_tokens)
    cost = estimate_cost(
        model=first, input_tokens=features.estimated_input_tokens, output_tokens=output
    )
    return {
        "model": first.qualified_id,
        "provider": first.provider_slug,
        "candidates": [m.qualified_id for m in decision.candidates],
        "reason": decision.reason,
        "rule_index": decision.rule_index,
        "config": decision.config.name if decision.config else None,
        "estimated_input_tokens": features.estimated_input_tokens,
        "estimated_output_tokens": output,
        "estimated_cost_usd": f"{cost:f}",
        "params": dict(decision.params),
        "use_byok": decision.use_byok,
        "cache_ttl_seconds": decision.cache_ttl_seconds,
        "complexity": features.complexity,
        "budget_used_pct": None if used is None else f"{used:f}",
        "hints": {"task": hints.task, "tags": list(hints.tags), "priority": hints.priority},
    }
