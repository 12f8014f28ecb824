"""The router: which model serves a request, in which fallback order, and why.

`route_request` is a pure function over in-memory snapshots (`CatalogIndex`, `ConfigInfo`, in
`routing_snapshots`): a warm tenant routes without touching the database. Every decision carries
a human-readable `reason` that is stored with the usage event.

Semantics (DESIGN.md "Routing"):
- `model` is `auto` (the tenant's default config), a config name, a catalog id (`gpt-4o-mini`) or a
  qualified id (`openai/gpt-4o-mini`). A config name wins over a catalog id of the same spelling:
  the tenant's own names are the more specific. A catalog model requested directly runs with the
  default config's params, BYOK and cache settings, and the default config's fallbacks after it.
- A config's rules are tried in order, first match wins (language: `llm.rules`). Without a match the
  config's primary model leads; with `auto` and a priority hint, the priority picks instead.
- The chain after the chosen model: the rule's fallbacks, then the config's primary and fallbacks,
  deduplicated (`route_chain`). Unknown, inactive and unpriced models are never candidates. Models
  lacking a capability the request needs (tools, vision, json_mode) are skipped when another
  candidate has it; models whose context window cannot hold the estimated input plus the
  requested output are skipped when another fits (if none fits, a larger-context model the config
  names is used, else the largest-context candidates are kept: estimates are rough and the gateway
  falls back on a context-length error) (`model_ranking`).
"""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from core.errors import InvalidRequest, ModelNotAllowed
from llm import rules as rule_lang
from llm.services.model_ranking import model_best_fit, models_fit, rank_models
from llm.services.request_features import int_or_none
from llm.services.route_chain import RouteChain, config_allowed_models, shorten
from llm.services.route_splits import split_arm_pick, split_arms, split_sticky_key

if TYPE_CHECKING:
    from llm.services.model_access import ModelAccess
    from llm.services.request_features import RequestFeatures
    from llm.services.routing_hints import RoutingHints
    from llm.services.routing_snapshots import CatalogIndex, ConfigInfo, ModelInfo

REASON_MAX_CHARS = 500  # UsageEvent.route_reason

_default_rng = random.Random()


@dataclass(frozen=True)
class RouteDecision:
    """The ordered candidates for one request, the settings they run with, and why."""

    config: "ConfigInfo | None"
    candidates: "tuple[ModelInfo, ...]"  # ordered: first to try, then the fallback chain
    reason: str
    rule_index: int | None
    params: dict  # config params; the gateway applies them under the body's own
    cache_ttl_seconds: int
    use_byok: bool


@dataclass(frozen=True)
class _Request:
    """What one decision looks at besides the config (passed down the steps as one value)."""

    catalog: "CatalogIndex"
    hints: "RoutingHints"
    features: "RequestFeatures"
    rng: random.Random
    latency_ms: Mapping[str, float] | None
    access: "ModelAccess | None" = None  # None: every model (no key or plan to apply)


def _default_config(configs: Sequence["ConfigInfo"]) -> "ConfigInfo | None":
    return next((c for c in configs if c.is_default), None)


def _auto_config(
    configs: Sequence["ConfigInfo"], by_name: Mapping[str, "ConfigInfo"]
) -> "ConfigInfo | None":
    """The config `auto` names: the default one, else one called "auto"."""
    return _default_config(configs) or by_name.get("auto")


def config_for_model(
    *, requested_model: str, configs: Sequence["ConfigInfo"]
) -> "ConfigInfo | None":
    """The config whose settings will govern a request for `requested_model`, without routing.

    For looking up budget state (per config) before `route_request`; None where routing would
    fail or no config applies."""
    if not isinstance(requested_model, str):
        return None
    ref = requested_model.strip()
    by_name = {c.name: c for c in configs}
    if ref == "auto":
        return _auto_config(configs, by_name)
    return by_name.get(ref) or _default_config(configs)


def _rule_context(
    hints: "RoutingHints", features: "RequestFeatures", budget_used_pct: Decimal | None
) -> rule_lang.RuleContext:
    return rule_lang.RuleContext(
        task=hints.task,
        tags=hints.tags,
        priority=hints.priority,
        budget_used_pct=budget_used_pct,
        input_tokens=features.estimated_input_tokens,
        has_tools=features.has_tools,
        has_images=features.has_images,
        json_mode=features.json_mode,
        complexity=features.complexity,
    )


def _needed_tokens(features: "RequestFeatures", params: Mapping) -> int:
    """The estimated input plus the output the request (else the config) asks for."""
    output = features.requested_max_tokens
    if output is None:
        output = int_or_none(params.get("max_tokens")) or 0
    return features.estimated_input_tokens + output


def _unknown_model(ref: str, catalog: "CatalogIndex", configs: Sequence["ConfigInfo"]) -> Exception:
    shown = shorten(ref)
    if catalog.is_inactive(ref):
        return ModelNotAllowed(f"Model {shown!r} is not available (disabled in the catalog).")
    ambiguous = catalog.matches(ref)
    if len(ambiguous) > 1:
        options = ", ".join(m.qualified_id for m in ambiguous[:5])
        return InvalidRequest(f"Model {shown!r} is ambiguous: use one of {options}.")
    names = ", ".join(["auto", *(c.name for c in configs if c.name != "auto")])
    return InvalidRequest(
        f"Unknown model {shown!r}: not a catalog model id (see GET /v1/models) and not one of "
        f"your routing configs ({names})."
    )


def _finish(
    *,
    config: "ConfigInfo | None",
    chain: RouteChain,
    head: str,
    rule_index: int | None,
    request: _Request,
) -> RouteDecision:
    """The decision: the chain fitted to the request, and the reason (bounded) saying why."""
    params = dict(config.params) if config else {}
    candidates = models_fit(
        chain.models,
        features=request.features,
        needed_tokens=_needed_tokens(request.features, params),
        larger_pool=lambda: config_allowed_models(config, request.catalog, request.access),
        notes=chain.notes,
    )
    if not candidates:
        where = f"config {config.name!r}" if config else "the request"
        why = "unknown, inactive, unpriced or not allowed for this key or tenant plan"
        raise ModelNotAllowed(f"No model of {where} is available (all are {why}).")
    reason = head
    if candidates[0].qualified_id not in head:
        reason += f"; serving {candidates[0].qualified_id}"
    if chain.notes:
        reason += "; " + "; ".join(chain.notes)
    if len(reason) > REASON_MAX_CHARS:
        reason = reason[: REASON_MAX_CHARS - 1] + "…"
    return RouteDecision(
        config=config,
        candidates=tuple(candidates),
        reason=reason,
        rule_index=rule_index,
        params=params,
        cache_ttl_seconds=config.cache_ttl_seconds if config else 0,
        use_byok=config.use_byok if config else False,
    )


def _apply_action(
    route: Mapping,
    *,
    chain: RouteChain,
    config: "ConfigInfo",
    salt: str,
    needed_tokens: int,
    request: _Request,
) -> str | None:
    """Put a matched rule's chosen model first in `chain`; return the reason fragment, or None
    when the route is unusable (a config stored before validation) and the next rule decides."""
    if "model" in route:
        chosen = chain.add(route["model"])
        action = ""
    elif "split" in route:
        arms = split_arms(route["split"])
        if not arms:
            return None
        sticky = split_sticky_key(route.get("sticky_by"), request.hints)
        arm = split_arm_pick(arms, sticky_key=sticky, salt=salt, rng=request.rng)
        chosen = chain.add(arms[arm][0])
        weights = "/".join(f"{w:g}" for _, w in arms)
        how = f"sticky by {route['sticky_by']}" if sticky is not None else "random"
        action = f" split {weights} arm {arm} ({how})"
    elif "priority" in route:
        if route["priority"] not in rule_lang.PRIORITIES:
            return None
        allowed = config_allowed_models(config, request.catalog, request.access)
        pool = rank_models(allowed, route["priority"], latency_ms=request.latency_ms)
        picked = model_best_fit(pool, features=request.features, needed_tokens=needed_tokens)
        chosen = chain.add(picked.qualified_id) if picked else None
        action = f" priority {route['priority']} among {len(pool)} models"
    elif "quality_tier" in route:
        tier = route["quality_tier"]
        allowed = config_allowed_models(config, request.catalog, request.access)
        pool = [m for m in allowed if m.quality_tier == tier]
        if not pool:
            providers = {m.provider_slug for m in allowed}
            pool = [
                m
                for m in request.catalog.for_providers(providers)
                if m.quality_tier == tier and (request.access is None or request.access.allows(m))
            ]
        pool = rank_models(pool, "cost")
        picked = model_best_fit(pool, features=request.features, needed_tokens=needed_tokens)
        chosen = chain.add(picked.qualified_id) if picked else None
        action = f" quality_tier {tier}"
    else:
        return None
    return f"{action} -> {chosen.qualified_id if chosen else 'no usable model'}"


def _rule_label(index: int, rule: Mapping) -> str:
    """`rule 2 'name' (task=code)`: how a route reason names a rule."""
    label = f"rule {index}"
    if isinstance(rule.get("name"), str) and rule["name"]:
        label += f" {shorten(rule['name'], 40)!r}"
    return label + f" ({rule_lang.describe_when(rule.get('when', {}))})"


def _route_by_rules(
    config: "ConfigInfo",
    *,
    chain: RouteChain,
    needed_tokens: int,
    budget_used_pct: Decimal | None,
    request: _Request,
) -> RouteDecision | None:
    """The decision of the first rule that matches and has a usable route, else None."""
    context = _rule_context(request.hints, request.features, budget_used_pct)
    for index, rule in enumerate(config.rules):
        if not isinstance(rule, Mapping) or not rule_lang.when_matches(
            rule.get("when", {}), context
        ):
            continue
        route = rule.get("route")
        if not isinstance(route, Mapping):
            continue
        action = _apply_action(
            route,
            chain=chain,
            config=config,
            salt=f"{config.name}:{index}",
            needed_tokens=needed_tokens,
            request=request,
        )
        if action is None:
            continue
        fallbacks = route.get("fallback_models")
        if isinstance(fallbacks, list):
            chain.extend(fallbacks)
        chain.extend([config.primary_model, *config.fallback_models])
        head = f"{_rule_label(index, rule)}{action}"
        return _finish(config=config, chain=chain, head=head, rule_index=index, request=request)
    return None


def _route_by_priority_hint(
    config: "ConfigInfo", *, chain: RouteChain, needed_tokens: int, request: _Request
) -> RouteDecision | None:
    """`auto` with a priority hint and no matching rule: the priority's pick leads, else None."""
    priority = request.hints.priority
    if priority is None:
        return None
    pool = rank_models(
        config_allowed_models(config, request.catalog, request.access),
        priority,
        latency_ms=request.latency_ms,
    )
    picked = model_best_fit(pool, features=request.features, needed_tokens=needed_tokens)
    if picked is None:
        return None
    chain.add(picked.qualified_id)
    chain.extend([config.primary_model, *config.fallback_models])
    head = (
        f"config {config.name}: no rule matched; priority {priority} among {len(pool)} models "
        f"-> {picked.qualified_id}"
    )
    return _finish(config=config, chain=chain, head=head, rule_index=None, request=request)


def _route_config(
    config: "ConfigInfo", *, is_auto: bool, budget_used_pct: Decimal | None, request: _Request
) -> RouteDecision:
    """A config's decision: its rules, then (for `auto`) the priority hint, then its primary."""
    chain = RouteChain(request.catalog, request.access)
    needed = _needed_tokens(request.features, config.params)
    decision = _route_by_rules(
        config, chain=chain, needed_tokens=needed, budget_used_pct=budget_used_pct, request=request
    )
    if decision is None and is_auto and request.hints.priority in rule_lang.PRIORITIES:
        decision = _route_by_priority_hint(
            config, chain=chain, needed_tokens=needed, request=request
        )
    if decision is not None:
        return decision
    chain.extend([config.primary_model, *config.fallback_models])
    matched = "no rule matched -> " if config.rules else ""
    head = f"config {config.name}: {matched}primary {config.primary_model}"
    return _finish(config=config, chain=chain, head=head, rule_index=None, request=request)


def _route_direct(ref: str, *, configs: Sequence["ConfigInfo"], request: _Request) -> RouteDecision:
    """A catalog model requested by id: it leads, with the default config's settings and
    fallbacks."""
    model = request.catalog.resolve(ref)
    if model is None:
        raise _unknown_model(ref, request.catalog, configs)
    if not model.is_priced:
        raise ModelNotAllowed(
            f"Model {model.qualified_id!r} has no known price and cannot be used."
        )
    access = request.access
    if access is not None and not (access.allows_direct and access.allows(model)):
        raise ModelNotAllowed(
            f"Model {model.qualified_id!r} is not allowed for this API key or tenant plan."
        )
    default = _default_config(configs)
    chain = RouteChain(request.catalog, request.access)
    chain.add(model.qualified_id)
    head = f"requested {model.qualified_id} directly"
    if default is not None:
        chain.extend(default.fallback_models)
        head += f" (settings of config {default.name})"
    return _finish(config=default, chain=chain, head=head, rule_index=None, request=request)


def _check_config_access(config: "ConfigInfo", access: "ModelAccess | None") -> None:
    if access is not None and not access.allows_config(config.name):
        raise ModelNotAllowed(
            f"Routing config {shorten(config.name)!r} is not allowed for this API key."
        )


def route_request(
    *,
    requested_model: str,
    configs: list["ConfigInfo"],
    catalog: "CatalogIndex",
    hints: "RoutingHints",
    features: "RequestFeatures",
    budget_used_pct: Decimal | None,
    rng: random.Random | None = None,
    latency_ms: Mapping[str, float] | None = None,
    access: "ModelAccess | None" = None,
) -> RouteDecision:
    """Decide the ordered candidates for one request. Pure: no I/O.

    Raises InvalidRequest (unknown model or config, `auto` without a default config) or
    ModelNotAllowed (the model exists but cannot be used); never returns no candidates.
    `rng` drives non-sticky splits (inject a seeded one in tests); `latency_ms` (optional,
    qualified id -> observed latency) refines the `speed` priority within a speed tier.
    `access` (the key's and tenant plan's allowed sets, `model_access`): a config the key may
    not use, or a model requested directly that it may not use, is ModelNotAllowed; routing
    and fallbacks skip disallowed models like unusable ones."""
    if not isinstance(requested_model, str) or not requested_model.strip():
        raise InvalidRequest(
            "'model' is required: a catalog model id, 'auto' or the name of a routing config."
        )
    ref = requested_model.strip()
    request = _Request(
        catalog=catalog,
        hints=hints,
        features=features,
        rng=rng or _default_rng,
        latency_ms=latency_ms,
        access=access,
    )
    by_name = {c.name: c for c in configs}
    if ref == "auto":
        config = _auto_config(configs, by_name)
        if config is None:
            raise InvalidRequest(
                "Model 'auto' needs a default routing config: mark one of your configs as the "
                "default (is_default: true in /api/v1/configs/), or request a model or config "
                "by name."
            )
        _check_config_access(config, access)
        return _route_config(config, is_auto=True, budget_used_pct=budget_used_pct, request=request)
    if ref in by_name:
        config = by_name[ref]
        _check_config_access(config, access)
        return _route_config(
            config, is_auto=False, budget_used_pct=budget_used_pct, request=request
        )
    return _route_direct(ref, configs=configs, request=request)
