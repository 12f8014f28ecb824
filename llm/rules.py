"""The routing-rule language, and its validation.

A config's `rules` is an ordered list; the first rule whose every `when` condition holds decides.

    {"name": "optional label",
     "when": {"task": "code" | ["code", "sql"],
              "tags_any": [...], "tags_all": [...],
              "priority": "cost" | [...],
              "budget_used_pct_gte": 80,
              "input_tokens_gte": 1000, "input_tokens_lte": 4000,
              "has_tools": true, "has_images": true, "json_mode": true,
              "complexity": "low" | "medium" | "high" | [...]},
     "route": one of
              {"model": "openai/gpt-4.1", "fallback_models": [...]}
              {"split": [{"model": ..., "weight": 90}, ...], "sticky_by": "user" | "tag"}
              {"priority": "cost" | "speed" | "quality" | "balanced"}
              {"quality_tier": "basic" | "good" | "best"}}

An empty `when` always matches. Validation returns errors keyed by the field path, e.g.
`rules[2].route.split[0].model`, so a bad config says exactly where it is wrong.

Matching (`when_matches`) is pure and lives here, next to validation, so the language has one
definition. Strings (task, tags) compare case-insensitively; `budget_used_pct_gte` never holds when
the tenant has no budget; `fallback_models` may follow any action; `sticky_by` belongs to `split`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol


class _RoutableModel(Protocol):
    @property
    def is_priced(self) -> bool: ...


ModelLookup = Callable[[str], _RoutableModel | None]

PRIORITIES = ("cost", "speed", "quality", "balanced")
COMPLEXITIES = ("low", "medium", "high")
QUALITY_TIERS = ("basic", "good", "best")
STICKY_BY = ("user", "tag")

_CONDITION_KINDS: dict[str, str] = {
    "task": "str_or_list",
    "tags_any": "list",
    "tags_all": "list",
    "priority": "priority",
    "budget_used_pct_gte": "number",
    "input_tokens_gte": "int",
    "input_tokens_lte": "int",
    "has_tools": "bool",
    "has_images": "bool",
    "json_mode": "bool",
    "complexity": "complexity",
}
_KNOWN_PARAMS = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": int,
    "presence_penalty": (int, float),
    "frequency_penalty": (int, float),
    "stop": (str, list),
    "seed": int,
    "timeout_seconds": (int, float),
    "max_retries": int,
}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _check_condition(path: str, kind: str, value: Any, errors: dict) -> None:
    if kind == "str_or_list":
        ok = all(isinstance(v, str) and v for v in _as_list(value)) and value != []
        if not ok:
            errors[path] = "Must be a non-empty string or a list of strings."
    elif kind == "list":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            errors[path] = "Must be a non-empty list of strings."
    elif kind == "priority":
        if value == [] or not all(v in PRIORITIES for v in _as_list(value)):
            errors[path] = f"Must be one of {', '.join(PRIORITIES)} (or a list of them)."
    elif kind == "complexity":
        if value == [] or not all(v in COMPLEXITIES for v in _as_list(value)):
            errors[path] = f"Must be one of {', '.join(COMPLEXITIES)} (or a list of them)."
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            errors[path] = "Must be a non-negative number."
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors[path] = "Must be a non-negative integer."
    elif kind == "bool" and not isinstance(value, bool):
        errors[path] = "Must be true or false."


def split_weight_ok(weight: Any) -> bool:
    """A split arm's weight is a positive number (validation and routing share this rule)."""
    return not (isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0)


def _check_model(path: str, ref: Any, errors: dict, resolve: ModelLookup) -> None:
    if not isinstance(ref, str) or not ref:
        errors[path] = "Must be a model id such as 'openai/gpt-4o-mini'."
        return
    model = resolve(ref)
    if model is None:
        errors[path] = f"Unknown or inactive model {ref!r}."
    elif not model.is_priced:
        errors[path] = f"Model {ref!r} has no known price and cannot be routed to."


def _check_route(path: str, route: Any, errors: dict, resolve: ModelLookup) -> None:
    if not isinstance(route, dict):
        errors[path] = "Must be an object."
        return
    actions = [k for k in ("model", "split", "priority", "quality_tier") if k in route]
    if len(actions) != 1:
        errors[path] = "Must have exactly one of 'model', 'split', 'priority' or 'quality_tier'."
        return
    unknown = set(route) - {
        "model",
        "fallback_models",
        "split",
        "sticky_by",
        "priority",
        "quality_tier",
    }
    if unknown:
        errors[path] = f"Unknown field(s): {', '.join(sorted(unknown))}."
        return
    action = actions[0]
    if "sticky_by" in route and action != "split":
        errors[f"{path}.sticky_by"] = "Only a 'split' route can be sticky."
    if action == "model":
        _check_model(f"{path}.model", route["model"], errors, resolve)
    elif action == "priority" and route["priority"] not in PRIORITIES:
        errors[f"{path}.priority"] = f"Must be one of {', '.join(PRIORITIES)}."
    elif action == "quality_tier" and route["quality_tier"] not in QUALITY_TIERS:
        errors[f"{path}.quality_tier"] = f"Must be one of {', '.join(QUALITY_TIERS)}."
    elif action == "split":
        split = route["split"]
        if not isinstance(split, list) or not split:
            errors[f"{path}.split"] = "Must be a non-empty list of {model, weight}."
        else:
            for j, arm in enumerate(split):
                arm_path = f"{path}.split[{j}]"
                if not isinstance(arm, dict):
                    errors[arm_path] = "Must be an object with 'model' and 'weight'."
                    continue
                _check_model(f"{arm_path}.model", arm.get("model"), errors, resolve)
                if not split_weight_ok(arm.get("weight")):
                    errors[f"{arm_path}.weight"] = "Must be a positive number."
        if "sticky_by" in route and route["sticky_by"] not in STICKY_BY:
            errors[f"{path}.sticky_by"] = f"Must be one of {', '.join(STICKY_BY)}."
    if "fallback_models" in route:
        _check_model_list(f"{path}.fallback_models", route["fallback_models"], errors, resolve)


def _check_model_list(path: str, refs: Any, errors: dict, resolve: ModelLookup) -> None:
    if not isinstance(refs, list):
        errors[path] = "Must be a list of model ids."
        return
    for i, ref in enumerate(refs):
        _check_model(f"{path}[{i}]", ref, errors, resolve)


def validate_rules(rules: Any, *, resolve: ModelLookup) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not isinstance(rules, list):
        return {"rules": "Must be a list of rules."}
    for i, rule in enumerate(rules):
        path = f"rules[{i}]"
        if not isinstance(rule, dict):
            errors[path] = "Must be an object with 'when' and 'route'."
            continue
        unknown = set(rule) - {"name", "when", "route"}
        if unknown:
            errors[path] = f"Unknown field(s): {', '.join(sorted(unknown))}."
        if "name" in rule and not isinstance(rule["name"], str):
            errors[f"{path}.name"] = "Must be a string."
        when = rule.get("when", {})
        if not isinstance(when, dict):
            errors[f"{path}.when"] = "Must be an object."
        else:
            for key, value in when.items():
                kind = _CONDITION_KINDS.get(key)
                if kind is None:
                    errors[f"{path}.when.{key}"] = (
                        f"Unknown condition. Known: {', '.join(_CONDITION_KINDS)}."
                    )
                else:
                    _check_condition(f"{path}.when.{key}", kind, value, errors)
        if "route" not in rule:
            errors[f"{path}.route"] = "This field is required."
        else:
            _check_route(f"{path}.route", rule["route"], errors, resolve)
    return errors


def validate_params(params: Any) -> dict[str, str]:
    if not isinstance(params, dict):
        return {"params": "Must be an object."}
    errors = {}
    for key, value in params.items():
        expected = _KNOWN_PARAMS.get(key)
        if expected is None:
            errors[f"params.{key}"] = f"Unknown parameter. Known: {', '.join(_KNOWN_PARAMS)}."
        elif isinstance(value, bool) or not isinstance(value, expected):
            errors[f"params.{key}"] = "Wrong type."
    return errors


def validate_routing_config(
    *, resolve: ModelLookup, primary_model: Any, fallback_models: Any, params: Any, rules: Any
) -> dict[str, str]:
    """Field path -> message for everything wrong with a config; empty when it is valid.

    `resolve` finds a catalog model by reference (None when there is none): the language stays
    pure, and the caller decides where models come from (the database or a snapshot)."""
    errors: dict[str, str] = {}
    _check_model("primary_model", primary_model, errors, resolve)
    _check_model_list("fallback_models", fallback_models, errors, resolve)
    errors.update(validate_params(params))
    errors.update(validate_rules(rules, resolve=resolve))
    return errors


@dataclass(frozen=True)
class RuleContext:
    """What a rule can look at: the request's hints and features and the budget state."""

    task: str | None = None
    tags: tuple[str, ...] = ()
    priority: str | None = None
    budget_used_pct: Decimal | None = None
    input_tokens: int = 0
    has_tools: bool = False
    has_images: bool = False
    json_mode: bool = False
    complexity: str | None = "low"  # None: not scanned (no rule of the tenant reads it)


def _fold(values: Any) -> set[str]:
    items = values if isinstance(values, list | tuple) else [values]
    return {v.casefold() for v in items if isinstance(v, str)}


def _condition_holds(key: str, value: Any, ctx: RuleContext) -> bool:
    if key == "task":
        return ctx.task is not None and ctx.task.casefold() in _fold(value)
    if key == "tags_any":
        return bool(_fold(ctx.tags) & _fold(value))
    if key == "tags_all":
        wanted = _fold(value)
        return bool(wanted) and wanted <= _fold(ctx.tags)
    if key == "priority":
        return ctx.priority is not None and ctx.priority in _as_list(value)
    if key == "complexity":
        return ctx.complexity in _as_list(value)
    if key == "budget_used_pct_gte":
        if ctx.budget_used_pct is None or isinstance(value, bool):
            return False
        try:
            return ctx.budget_used_pct >= Decimal(str(value))
        except InvalidOperation:
            return False
    if key == "input_tokens_gte":
        return isinstance(value, int) and ctx.input_tokens >= value
    if key == "input_tokens_lte":
        return isinstance(value, int) and ctx.input_tokens <= value
    if key in ("has_tools", "has_images", "json_mode"):
        return getattr(ctx, key) is value
    return False  # unknown condition (a config saved before validation existed): never matches


def when_matches(when: Any, ctx: RuleContext) -> bool:
    """True when every condition holds; an empty `when` always matches."""
    if not isinstance(when, Mapping):
        return False
    return all(_condition_holds(key, value, ctx) for key, value in when.items())


_DESCRIBE_OPS = {
    "budget_used_pct_gte": "budget_used_pct>=",
    "input_tokens_gte": "input_tokens>=",
    "input_tokens_lte": "input_tokens<=",
}


def describe_when(when: Any) -> str:
    """A short human-readable form of a `when`, for route reasons: `task=code, has_tools`."""
    if not isinstance(when, Mapping) or not when:
        return "always"
    parts = []
    for key, value in when.items():
        if key in _DESCRIBE_OPS:
            parts.append(f"{_DESCRIBE_OPS[key]}{value}")
        elif isinstance(value, bool):
            parts.append(key if value else f"not {key}")
        elif isinstance(value, list):
            parts.append(f"{key}=[{','.join(str(v) for v in value)}]")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)
