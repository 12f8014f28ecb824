"""The router: which model serves a request, in which fallback order, and why.

`route_request` is a pure function over in-memory snapshots (`CatalogIndex`, `ConfigInfo`): a warm
tenant routes without touching the database. Loading the snapshots (`catalog_index_load`,
`tenant_configs_load`) is separate, and the gateway caches them. Every decision carries a
human-readable `reason` that is stored with the usage event.

Semantics (DESIGN.md "Routing"):
- `model` is `auto` (the tenant's default config), a config name, a catalog id (`gpt-4o-mini`) or a
  qualified id (`openai/gpt-4o-mini`). A config name wins over a catalog id of the same spelling:
  the tenant's own names are the more specific. A catalog model requested directly runs with the
  default config's params, BYOK and cache settings, and the default config's fallbacks after it.
- A config's rules are tried in order, first match wins (language: `llm.rules`). Without a match the
  config's primary model leads; with `auto` and a priority hint, the priority picks instead.
- The chain after the chosen model: the rule's fallbacks, then the config's primary and fallbacks,
  deduplicated. Unknown, inactive and unpriced models are never candidates. Models lacking a
  capability the request needs (tools, vision, json_mode) are skipped when another candidate has
  it; models whose context window cannot hold the estimated input plus the requested output are
  skipped when another fits (if none fits, a larger-context model the config names is used, else
  the largest-context candidates are kept: estimates are rough and the gateway falls back on a
  context-length error).
"""

import functools
import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from core.errors import InvalidRequest, ModelNotAllowed
from core.money import money_quantize
from llm import rules as rule_lang
from llm.model_refs import model_ref_resolve

REASON_MAX_CHARS = 500  # UsageEvent.route_reason
_PER_MILLION = Decimal(1_000_000)

_SPEED_RANK = {"fast": 0, "medium": 1, "slow": 2}
_QUALITY_RANK = {"best": 0, "good": 1, "basic": 2}
_QUALITY_POINTS = {"best": 3, "good": 2, "basic": 1}
_SPEED_POINTS = {"fast": 2, "medium": 1, "slow": 0}

_default_rng = random.Random()


# --- snapshots --------------------------------------------------------------------------------


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
        )


class CatalogIndex:
    """The active catalog in memory, resolvable by qualified id or unambiguous bare id."""

    def __init__(self, models: Iterable[ModelInfo], *, inactive_refs: Iterable[str] = ()):
        self._models = list(models)
        self._by_qualified = {m.qualified_id: m for m in self._models}
        self._by_bare: dict[str, list[ModelInfo]] = {}
        for m in self._models:
            self._by_bare.setdefault(m.model_id, []).append(m)
        self._priced = [m for m in self._models if m.is_priced]
        self._inactive = frozenset(inactive_refs)

    def resolve(self, ref: str) -> ModelInfo | None:
        """An active model (priced or not) by reference (the rule: llm.model_refs)."""
        return model_ref_resolve(ref, by_qualified=self._by_qualified, by_bare=self._by_bare)

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

    @functools.cached_property
    def reads_budget_state(self) -> bool:
        """Whether a rule depends on budget usage (else the gateway need not read it)."""
        return any(
            isinstance(rule, dict)
            and isinstance(rule.get("when"), dict)
            and "budget_used_pct_gte" in rule["when"]
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
        )


def tenant_configs_load(*, tenant_id: int) -> list[ConfigInfo]:
    """The tenant's routing configs (one query)."""
    from llm.models import RoutingConfig

    return [
        ConfigInfo.from_config(config)
        for config in RoutingConfig.objects.filter(tenant_id=tenant_id).order_by("name")
    ]


# --- what the request says about itself -------------------------------------------------------

MAX_TAGS = 20
MAX_TAG_CHARS = 64
MAX_TASK_CHARS = 64
MAX_USER_CHARS = 256


@dataclass(frozen=True)
class RoutingHints:
    task: str | None = None
    tags: tuple[str, ...] = ()
    priority: str | None = None
    user: str | None = None  # body "user", the key of sticky splits


def _split_tags(value: Any, source: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items: list = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidRequest(f"{source} must be a list of strings or a comma-separated string.")
    tags = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidRequest(f"{source} must be a list of strings or a comma-separated string.")
        tag = item.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidRequest(f"A tag in {source} is longer than {MAX_TAG_CHARS} characters.")
        tags.append(tag)
    return tags


def routing_hints_from(*, body: Mapping, headers: Mapping[str, str]) -> RoutingHints:
    """Hints from headers X-Tollgate-Task / -Priority / -Tags, else body `metadata.task|tags`.

    Headers win over metadata for task and priority; tags from both are merged (deduplicated
    case-insensitively, first spelling kept)."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, Mapping):
        raise InvalidRequest("'metadata' must be an object.")

    task = lowered.get("x-tollgate-task")
    if task is None or not str(task).strip():
        task = metadata.get("task")
    if task is not None:
        if not isinstance(task, str):
            raise InvalidRequest("'metadata.task' must be a string.")
        task = task.strip() or None
        if task is not None and len(task) > MAX_TASK_CHARS:
            raise InvalidRequest(f"The task hint is longer than {MAX_TASK_CHARS} characters.")

    priority = lowered.get("x-tollgate-priority")
    if priority is None or not str(priority).strip():
        priority = metadata.get("priority")
    if priority is not None:
        if not isinstance(priority, str):
            raise InvalidRequest("The priority hint must be a string.")
        priority = priority.strip().lower() or None
        if priority is not None and priority not in rule_lang.PRIORITIES:
            raise InvalidRequest(
                f"X-Tollgate-Priority must be one of {', '.join(rule_lang.PRIORITIES)}."
            )

    tags: list[str] = []
    seen: set[str] = set()
    for tag in _split_tags(lowered.get("x-tollgate-tags"), "X-Tollgate-Tags") + _split_tags(
        metadata.get("tags"), "'metadata.tags'"
    ):
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"At most {MAX_TAGS} tags per request.")

    user = body.get("user")
    user = (user.strip()[:MAX_USER_CHARS] or None) if isinstance(user, str) else None
    return RoutingHints(task=task, tags=tuple(tags), priority=priority, user=user)


@dataclass(frozen=True)
class RequestFeatures:
    estimated_input_tokens: int
    has_tools: bool
    has_images: bool
    json_mode: bool
    complexity: str  # low | medium | high
    requested_max_tokens: int | None


CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators, per message (OpenAI's published rule of thumb)
REQUEST_OVERHEAD_TOKENS = 3
IMAGE_TOKENS = 765  # a high-detail 512px-tiled image, the common case
IMAGE_TOKENS_LOW_DETAIL = 85
_IMAGE_PART_TYPES = ("image_url", "input_image", "image")
_TEXT_PART_TYPES = ("text", "input_text")
COMPLEXITY_SCAN_CHARS = 20_000

_STRONG_CUES = re.compile(
    r"step[- ]by[- ]step|\bprove\b|\bproof\b|\bderive\b|\btheorem\b|\brigorous(?:ly)?\b"
    r"|\bthink (?:carefully|hard|deeply)\b|\bformally\b",
    re.IGNORECASE,
)
_MILD_CUES = re.compile(
    r"\bwhy\b|\banaly[sz]e\b|\banalysis\b|\bcompare\b|\bexplain\b|\boptimi[sz]e\b|\bdesign\b"
    r"|\btrade-?offs?\b|\bdebug\b|\bplan\b|\bevaluate\b|\barchitecture\b|\breason(?:ing)?\b",
    re.IGNORECASE,
)
_CODE_WORDS = re.compile(
    r"\b(?:def|class|import|return|function|const|lambda|select|insert|python|javascript"
    r"|typescript|java|rust|golang|sql|regex|code|compile|compiler|bug|exception|traceback"
    r"|refactor|unit tests?)\b|#include|=>|\w+\(\)",
    re.IGNORECASE,
)


def complexity_estimate(*, text: str, input_tokens: int) -> str:
    """A cheap guess at how hard a prompt is: low | medium | high.

    Score = length (>= 1,500 tokens: 1; >= 8,000: 2) + code (a ``` fence: 1; two or more distinct
    code words: 1) + reasoning cues (each distinct strong cue such as "prove", "step by step": 2;
    each distinct mild cue such as "why", "compare", "design": 1; cues capped at 3).
    0 -> low, 1-2 -> medium, 3+ -> high. Only the last user message is scanned for cues, so a
    boilerplate system prompt does not make every request "high"."""
    text = text[-COMPLEXITY_SCAN_CHARS:]
    score = 2 if input_tokens >= 8000 else 1 if input_tokens >= 1500 else 0
    if "```" in text:
        score += 1
    if len({m.lower() for m in _CODE_WORDS.findall(text)}) >= 2:
        score += 1
    strong = {m.lower() for m in _STRONG_CUES.findall(text)}
    mild = {m.lower() for m in _MILD_CUES.findall(text)}
    score += min(2 * len(strong) + len(mild), 3)
    if score >= 3:
        return "high"
    return "medium" if score >= 1 else "low"


def _content_text_and_images(content: Any) -> tuple[str, int, int]:
    """(text, image count, image tokens) of one message's content."""
    if isinstance(content, str):
        return content, 0, 0
    if not isinstance(content, list):
        return "", 0, 0
    texts, images, image_tokens = [], 0, 0
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind in _TEXT_PART_TYPES and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in _IMAGE_PART_TYPES:
            images += 1
            detail = part.get("image_url")
            low = isinstance(detail, Mapping) and detail.get("detail") == "low"
            image_tokens += IMAGE_TOKENS_LOW_DETAIL if low else IMAGE_TOKENS
    return "\n".join(texts), images, image_tokens


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def request_features_from(*, body: Mapping) -> RequestFeatures:
    """A cheap estimate of the request (characters / 4 plus per-message and per-image costs).

    No tokenizer on the hot path: the estimate picks models and reserves budget, and the
    provider's reported usage is what gets billed."""
    messages = body.get("messages")
    chars = 0
    count = 0
    images = 0
    image_tokens = 0
    last_user_text = ""
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping):
            continue
        count += 1
        text, n_images, n_image_tokens = _content_text_and_images(message.get("content"))
        chars += len(text)
        images += n_images
        image_tokens += n_image_tokens
        if message.get("role") == "user":
            last_user_text = text
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                chars += sum(
                    len(v)
                    for v in (function.get("name"), function.get("arguments"))
                    if isinstance(v, str)
                )
    tools = body.get("tools")
    functions = body.get("functions")
    tool_defs = [t for t in (tools, functions) if isinstance(t, list) and t]
    has_tools = bool(tool_defs)
    if tool_defs:
        chars += len(json.dumps(tool_defs, default=str, separators=(",", ":")))
    response_format = body.get("response_format")
    json_mode = isinstance(response_format, Mapping) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )
    estimated = (
        math.ceil(chars / CHARS_PER_TOKEN)
        + MESSAGE_OVERHEAD_TOKENS * count
        + REQUEST_OVERHEAD_TOKENS
        + image_tokens
    )
    requested = _int_or_none(body.get("max_completion_tokens"))
    if requested is None:
        requested = _int_or_none(body.get("max_tokens"))
    return RequestFeatures(
        estimated_input_tokens=estimated,
        has_tools=has_tools,
        has_images=images > 0,
        json_mode=json_mode,
        complexity=complexity_estimate(text=last_user_text, input_tokens=estimated),
        requested_max_tokens=requested,
    )


# --- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteDecision:
    config: ConfigInfo | None
    candidates: tuple[ModelInfo, ...]  # ordered: first to try, then the fallback chain
    reason: str
    rule_index: int | None
    params: dict  # config params; the gateway applies them under the body's own
    cache_ttl_seconds: int
    use_byok: bool


def _default_config(configs: Sequence[ConfigInfo]) -> ConfigInfo | None:
    return next((c for c in configs if c.is_default), None)


def config_for_model(*, requested_model: str, configs: Sequence[ConfigInfo]) -> ConfigInfo | None:
    """The config whose settings will govern a request for `requested_model`, without routing.

    For looking up budget state (per config) before `route_request`; None where routing would
    fail or no config applies."""
    if not isinstance(requested_model, str):
        return None
    ref = requested_model.strip()
    by_name = {c.name: c for c in configs}
    if ref == "auto":
        return _default_config(configs) or by_name.get("auto")
    return by_name.get(ref) or _default_config(configs)


def _shorten(ref: str, limit: int = 100) -> str:
    return ref if len(ref) <= limit else ref[:limit] + "…"


class _Chain:
    """An ordered, deduplicated list of usable models, with notes on what was left out."""

    def __init__(self, catalog: CatalogIndex):
        self.catalog = catalog
        self.models: list[ModelInfo] = []
        self.notes: list[str] = []
        self._seen: set[str] = set()

    def add(self, ref: Any) -> ModelInfo | None:
        model = self.catalog.resolve(ref) if isinstance(ref, str) else None
        if model is None:
            self.notes.append(f"skipped {_shorten(str(ref))} (unknown or inactive)")
            return None
        if not model.is_priced:
            self.notes.append(f"skipped {model.qualified_id} (no price)")
            return None
        if model.qualified_id not in self._seen:
            self._seen.add(model.qualified_id)
            self.models.append(model)
        return model

    def extend(self, refs: Iterable[Any]) -> None:
        for ref in refs:
            self.add(ref)


def _config_refs(config: ConfigInfo) -> list[str]:
    """Every model a config names: primary, fallbacks, and anything in its rules."""
    refs = [config.primary_model, *config.fallback_models]
    for rule in config.rules:
        route = rule.get("route") if isinstance(rule, Mapping) else None
        if not isinstance(route, Mapping):
            continue
        if isinstance(route.get("model"), str):
            refs.append(route["model"])
        for arm in route.get("split") or ():
            if isinstance(arm, Mapping) and isinstance(arm.get("model"), str):
                refs.append(arm["model"])
        fallbacks = route.get("fallback_models")
        if isinstance(fallbacks, list):
            refs.extend(r for r in fallbacks if isinstance(r, str))
    return refs


def _allowed_models(config: ConfigInfo | None, catalog: CatalogIndex) -> list[ModelInfo]:
    """The models a priority may pick from: those the config names; if fewer than two, every
    active priced model of the providers it names."""
    if config is None:
        return []
    chain = _Chain(catalog)
    chain.extend(_config_refs(config))
    models = chain.models
    if len(models) < 2:
        extra = catalog.for_providers(m.provider_slug for m in models)
        seen = {m.qualified_id for m in models}
        models = models + [m for m in extra if m.qualified_id not in seen]
    return models


def _balanced_score(model: ModelInfo) -> float:
    """2 x quality points (best 3, good 2, basic 1) + speed points (fast 2, medium 1, slow 0)
    - log2(1 + blended $/1M). Floats rank, they never price anything."""
    return (
        2 * _QUALITY_POINTS.get(model.quality_tier, 2)
        + _SPEED_POINTS.get(model.speed_tier, 1)
        - math.log2(1 + float(model.blended_price_per_1m))
    )


def rank_models(
    models: Iterable[ModelInfo], priority: str, *, latency_ms: Mapping[str, float] | None = None
) -> list[ModelInfo]:
    """cost: cheapest blended price; speed: speed tier, then observed latency (when known, by
    qualified id), then price; quality: quality tier, then price; balanced: highest
    `_balanced_score`. Ties break on the qualified id, so the order is deterministic."""
    latency = latency_ms or {}
    keys: dict[str, Callable[[ModelInfo], tuple]] = {
        "cost": lambda m: (m.blended_price_per_1m, m.qualified_id),
        "speed": lambda m: (
            _SPEED_RANK.get(m.speed_tier, 1),
            latency.get(m.qualified_id, math.inf),
            m.blended_price_per_1m,
            m.qualified_id,
        ),
        "quality": lambda m: (
            _QUALITY_RANK.get(m.quality_tier, 1),
            m.blended_price_per_1m,
            m.qualified_id,
        ),
        "balanced": lambda m: (-_balanced_score(m), m.qualified_id),
    }
    if priority not in keys:
        raise ValueError(f"Unknown priority {priority!r}.")
    return sorted(models, key=keys[priority])


def _required_capabilities(features: RequestFeatures) -> tuple[str, ...]:
    required = []
    if features.has_tools:
        required.append("tools")
    if features.has_images:
        required.append("vision")
    if features.json_mode:
        required.append("json_mode")
    return tuple(required)


def _by_capability(
    models: list[ModelInfo], required: tuple[str, ...], notes: list[str] | None
) -> list[ModelInfo]:
    """Keep the models that have the most of the required capabilities (all, when any has)."""
    if not required or not models:
        return models
    scores = [sum(c in m.capabilities for c in required) for m in models]
    best = max(scores)
    if best == 0:
        return models
    kept = [m for m, s in zip(models, scores, strict=True) if s == best]
    if notes is not None:
        for m, s in zip(models, scores, strict=True):
            if s < best:
                missing = ",".join(c for c in required if c not in m.capabilities)
                notes.append(f"skipped {m.qualified_id} (no {missing})")
    return kept


def _fit(
    models: list[ModelInfo],
    *,
    features: RequestFeatures,
    needed_tokens: int,
    larger_pool: Callable[[], list[ModelInfo]],
    notes: list[str] | None,
) -> list[ModelInfo]:
    """Capability skipping, then context-window skipping (see the module docstring)."""
    required = _required_capabilities(features)
    models = _by_capability(models, required, notes)
    fits = [m for m in models if m.context_window >= needed_tokens]
    if fits:
        if notes is not None:
            for m in models:
                if m.context_window < needed_tokens:
                    notes.append(
                        f"skipped {m.qualified_id} (context {m.context_window} < ~{needed_tokens}"
                        " tokens)"
                    )
        return fits
    if not models:
        return models
    seen = {m.qualified_id for m in models}
    larger = [
        m for m in larger_pool() if m.context_window >= needed_tokens and m.qualified_id not in seen
    ]
    larger = _by_capability(sorted(larger, key=lambda m: m.blended_price_per_1m), required, None)
    if larger and all(c in larger[0].capabilities for c in required):
        if notes is not None:
            notes.append(
                f"no candidate holds ~{needed_tokens} tokens; larger-context "
                f"{larger[0].qualified_id}"
            )
        return larger
    top = max(m.context_window for m in models)
    if notes is not None:
        notes.append(f"no candidate holds ~{needed_tokens} tokens; kept the largest context")
    return [m for m in models if m.context_window == top]


def _pick_arm(
    arms: list[tuple[str, float]], *, sticky_key: str | None, salt: str, rng: random.Random
) -> int:
    total = sum(weight for _, weight in arms)
    if sticky_key is not None:
        digest = hashlib.sha256(f"{salt}\x00{sticky_key}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
    else:
        point = rng.random()
    target = point * total
    cumulative = 0.0
    for index, (_, weight) in enumerate(arms):
        cumulative += weight
        if target < cumulative:
            return index
    return len(arms) - 1


def _split_arms(split: Any) -> list[tuple[str, float]]:
    arms = []
    for arm in split if isinstance(split, list) else ():
        if not isinstance(arm, Mapping) or not isinstance(arm.get("model"), str):
            continue
        weight = arm.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            continue
        arms.append((arm["model"], float(weight)))
    return arms


def _sticky_key(sticky_by: Any, hints: RoutingHints) -> str | None:
    if sticky_by == "user":
        return hints.user
    if sticky_by == "tag" and hints.tags:
        return ",".join(sorted({t.casefold() for t in hints.tags}))
    return None


def _rule_context(
    hints: RoutingHints, features: RequestFeatures, budget_used_pct: Decimal | None
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


def _needed_tokens(features: RequestFeatures, params: Mapping) -> int:
    output = features.requested_max_tokens
    if output is None:
        output = _int_or_none(params.get("max_tokens")) or 0
    return features.estimated_input_tokens + output


def _select(
    pool: list[ModelInfo],
    *,
    features: RequestFeatures,
    needed_tokens: int,
) -> ModelInfo | None:
    fitted = _fit(
        pool, features=features, needed_tokens=needed_tokens, larger_pool=list, notes=None
    )
    return fitted[0] if fitted else None


def _unknown_model(ref: str, catalog: CatalogIndex, configs: Sequence[ConfigInfo]) -> Exception:
    shown = _shorten(ref)
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
    config: ConfigInfo | None,
    chain: _Chain,
    head: str,
    rule_index: int | None,
    features: RequestFeatures,
    catalog: CatalogIndex,
) -> RouteDecision:
    params = dict(config.params) if config else {}
    candidates = _fit(
        chain.models,
        features=features,
        needed_tokens=_needed_tokens(features, params),
        larger_pool=lambda: _allowed_models(config, catalog),
        notes=chain.notes,
    )
    if not candidates:
        where = f"config {config.name!r}" if config else "the request"
        raise ModelNotAllowed(
            f"No model of {where} is available (all are unknown, inactive or unpriced)."
        )
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
    chain: _Chain,
    config: ConfigInfo,
    salt: str,
    catalog: CatalogIndex,
    hints: RoutingHints,
    features: RequestFeatures,
    needed_tokens: int,
    rng: random.Random,
    latency_ms: Mapping[str, float] | None,
) -> str | None:
    """Put a matched rule's chosen model first in `chain`; return the reason fragment, or None
    when the route is unusable (a config stored before validation) and the next rule decides."""
    if "model" in route:
        chosen = chain.add(route["model"])
        action = ""
    elif "split" in route:
        arms = _split_arms(route["split"])
        if not arms:
            return None
        sticky = _sticky_key(route.get("sticky_by"), hints)
        arm = _pick_arm(arms, sticky_key=sticky, salt=salt, rng=rng)
        chosen = chain.add(arms[arm][0])
        weights = "/".join(f"{w:g}" for _, w in arms)
        how = f"sticky by {route['sticky_by']}" if sticky is not None else "random"
        action = f" split {weights} arm {arm} ({how})"
    elif "priority" in route:
        if route["priority"] not in rule_lang.PRIORITIES:
            return None
        pool = rank_models(
            _allowed_models(config, catalog), route["priority"], latency_ms=latency_ms
        )
        picked = _select(pool, features=features, needed_tokens=needed_tokens)
        chosen = chain.add(picked.qualified_id) if picked else None
        action = f" priority {route['priority']} among {len(pool)} models"
    elif "quality_tier" in route:
        tier = route["quality_tier"]
        allowed = _allowed_models(config, catalog)
        pool = [m for m in allowed if m.quality_tier == tier]
        if not pool:
            providers = {m.provider_slug for m in allowed}
            pool = [m for m in catalog.for_providers(providers) if m.quality_tier == tier]
        picked = _select(rank_models(pool, "cost"), features=features, needed_tokens=needed_tokens)
        chosen = chain.add(picked.qualified_id) if picked else None
        action = f" quality_tier {tier}"
    else:
        return None
    return f"{action} -> {chosen.qualified_id if chosen else 'no usable model'}"


def _route_config(
    config: ConfigInfo,
    *,
    is_auto: bool,
    catalog: CatalogIndex,
    hints: RoutingHints,
    features: RequestFeatures,
    budget_used_pct: Decimal | None,
    rng: random.Random,
    latency_ms: Mapping[str, float] | None,
) -> RouteDecision:
    context = _rule_context(hints, features, budget_used_pct)
    chain = _Chain(catalog)
    needed = _needed_tokens(features, config.params)
    prefix = f"config {config.name}: "
    for index, rule in enumerate(config.rules):
        if not isinstance(rule, Mapping) or not rule_lang.when_matches(
            rule.get("when", {}), context
        ):
            continue
        route = rule.get("route")
        if not isinstance(route, Mapping):
            continue
        label = f"rule {index}"
        if isinstance(rule.get("name"), str) and rule["name"]:
            label += f" {_shorten(rule['name'], 40)!r}"
        label += f" ({rule_lang.describe_when(rule.get('when', {}))})"
        action = _apply_action(
            route,
            chain=chain,
            config=config,
            salt=f"{config.name}:{index}",
            catalog=catalog,
            hints=hints,
            features=features,
            needed_tokens=needed,
            rng=rng,
            latency_ms=latency_ms,
        )
        if action is None:
            continue
        head = f"{label}{action}"
        fallbacks = route.get("fallback_models")
        if isinstance(fallbacks, list):
            chain.extend(fallbacks)
        chain.extend([config.primary_model, *config.fallback_models])
        return _finish(
            config=config,
            chain=chain,
            head=head,
            rule_index=index,
            features=features,
            catalog=catalog,
        )

    if is_auto and hints.priority in rule_lang.PRIORITIES:
        pool = rank_models(_allowed_models(config, catalog), hints.priority, latency_ms=latency_ms)
        picked = _select(pool, features=features, needed_tokens=needed)
        if picked is not None:
            chain.add(picked.qualified_id)
            chain.extend([config.primary_model, *config.fallback_models])
            head = (
                f"{prefix}no rule matched; priority {hints.priority} among {len(pool)} models "
                f"-> {picked.qualified_id}"
            )
            return _finish(
                config=config,
                chain=chain,
                head=head,
                rule_index=None,
                features=features,
                catalog=catalog,
            )
    chain.extend([config.primary_model, *config.fallback_models])
    head = f"{prefix}{'no rule matched -> ' if config.rules else ''}primary {config.primary_model}"
    return _finish(
        config=config, chain=chain, head=head, rule_index=None, features=features, catalog=catalog
    )


def route_request(
    *,
    requested_model: str,
    configs: list[ConfigInfo],
    catalog: CatalogIndex,
    hints: RoutingHints,
    features: RequestFeatures,
    budget_used_pct: Decimal | None,
    rng: random.Random | None = None,
    latency_ms: Mapping[str, float] | None = None,
) -> RouteDecision:
    """Decide the ordered candidates for one request. Pure: no I/O.

    Raises InvalidRequest (unknown model or config, `auto` without a default config) or
    ModelNotAllowed (the model exists but cannot be used); never returns no candidates.
    `rng` drives non-sticky splits (inject a seeded one in tests); `latency_ms` (optional,
    qualified id -> observed latency) refines the `speed` priority within a speed tier."""
    if not isinstance(requested_model, str) or not requested_model.strip():
        raise InvalidRequest(
            "'model' is required: a catalog model id, 'auto' or the name of a routing config."
        )
    ref = requested_model.strip()
    rng = rng or _default_rng
    by_name = {c.name: c for c in configs}
    default = _default_config(configs)
    common = {
        "catalog": catalog,
        "hints": hints,
        "features": features,
        "rng": rng,
        "latency_ms": latency_ms,
    }

    if ref == "auto":
        config = default or by_name.get("auto")
        if config is None:
            raise InvalidRequest(
                "Model 'auto' needs a default routing config: mark one of your configs as the "
                "default (is_default: true in /api/v1/configs/), or request a model or config "
                "by name."
            )
        return _route_config(config, is_auto=True, budget_used_pct=budget_used_pct, **common)
    if ref in by_name:
        return _route_config(by_name[ref], is_auto=False, budget_used_pct=budget_used_pct, **common)

    model = catalog.resolve(ref)
    if model is None:
        raise _unknown_model(ref, catalog, configs)
    if not model.is_priced:
        raise ModelNotAllowed(
            f"Model {model.qualified_id!r} has no known price and cannot be used."
        )
    chain = _Chain(catalog)
    chain.add(model.qualified_id)
    head = f"requested {model.qualified_id} directly"
    if default is not None:
        chain.extend(default.fallback_models)
        head += f" (settings of config {default.name})"
    return _finish(
        config=default, chain=chain, head=head, rule_index=None, features=features, catalog=catalog
    )


# --- money --------------------------------------------------------------------------------------


def estimate_cost(
    *, model: ModelInfo, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> Decimal:
    """THE cost formula of the project, in USD.

    `cached_tokens` is the part of `input_tokens` the provider served from its prompt cache:
    billed at the cached-input price when the model has one, else at the input price; the rest
    of the input at the input price; output at the output price. Prices are per 1M tokens. The
    result is quantized to 10 decimal places (ROUND_HALF_UP), the precision usage events store,
    so sums of stored costs are exact."""
    if not model.is_priced:
        raise ValueError(f"{model.qualified_id} has no price.")
    if min(input_tokens, output_tokens, cached_tokens) < 0:
        raise ValueError("Token counts cannot be negative.")
    cached_price = model.cached_input_price_per_1m
    if cached_price is None:
        cached_price = model.input_price_per_1m
    uncached = max(input_tokens - cached_tokens, 0)
    with localcontext() as ctx:
        ctx.prec = 50
        total = (
            uncached * model.input_price_per_1m
            + cached_tokens * cached_price
            + output_tokens * model.output_price_per_1m
        ) / _PER_MILLION
        return money_quantize(total)
