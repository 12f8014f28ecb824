"""The gateway hot path: one chat completion from authentication to the usage event.

Order of checks: key -> body -> Idempotency-Key -> rate limit -> route -> cache -> budget ->
upstream attempts (fallback chain, retries, breakers, one deadline) -> settle -> usage event.
Nothing here queries the database for a warm tenant (see auth_cache); usage events go to the
buffer in billing.services.usage.

Streaming: the contract headers go out before the body, so X-Tollgate-Cost-USD on a stream is
the cost known at that moment (failed attempts the provider billed, usually 0); the final cost
is in the usage event and, when the client asks for `stream_options.include_usage`, its tokens
are in the last chunk.

Budget reservation: the worst case is reserved once, as the maximum over *all* candidates of
(estimated input + max output) at that candidate's price, so a fallback to a pricier model never
needs a second reservation that could fail half-way; settle replaces it with the actual cost
(including any failed attempt the provider billed), and every failure path releases it.
"""

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
from django.conf import settings
from redis.exceptions import RedisError

from billing.services.budgets import (
    Reservation,
    budget_release,
    budget_reserve,
    budget_settle,
    budget_used_pct,
)
from billing.services.usage import usage_event_enqueue
from core.errors import (
    ApplicationError,
    BudgetExceeded,
    InvalidApiKey,
    InvalidRequest,
    ModelNotAllowed,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from core.money import money_text
from gateway.services import snapshots as auth_cache
from gateway.services.breaker import FAILURE_KINDS, breaker_allow, breaker_record
from gateway.services.idempotency import (
    IdempotencyClaim,
    idempotency_abort,
    idempotency_begin,
    idempotency_finish,
)
from gateway.services.ratelimit import rate_limit_add_tokens, rate_limit_admit
from gateway.services.response_cache import cache_get, cache_key, cache_set
from gateway.services.upstream_keys import (
    NoUsableKey,
    UpstreamKey,
    provider_has_key,
    upstream_key_resolve,
)
from llm.providers.base import ProviderError, Usage, usage_to_openai
from llm.providers.http import get_http_client
from llm.providers.registry import get_adapter
from llm.services.latency import latency_by_model, latency_observe
from llm.services.router import (
    config_for_model,
    estimate_cost,
    request_features_from,
    route_request,
    routing_hints_from,
)

logger = logging.getLogger("tollgate.gateway")

ZERO = Decimal(0)
_SAME_MODEL_RETRY_KINDS = frozenset({"rate_limit", "server", "connection"})
_GATEWAY_PARAMS = frozenset({"timeout_seconds", "max_retries"})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_MAX_STORED_STREAM_BYTES = 2 * 1024 * 1024
_background: set[asyncio.Task] = set()


def _spawn(coro) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


# --- results --------------------------------------------------------------------------------


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    content_type: str = "application/json"
    stream: AsyncIterator[bytes] | None = None
    abandon: Any = None  # called when the client left before the response was sent


@dataclass
class _Attempt:
    model: str
    provider: str
    status: str  # ok | error | skipped
    kind: str = ""
    http_status: int | None = None
    latency_ms: int = 0
    usage: Usage | None = None
    cost_usd: Decimal = ZERO
    note: str = ""

    def as_dict(self) -> dict:
        item: dict[str, Any] = {
            "model": self.model,
            "provider": self.provider,
            "status": self.status,
            "latency_ms": self.latency_ms,
        }
        if self.kind:
            item["kind"] = self.kind
        if self.http_status is not None:
            item["http_status"] = self.http_status
        if self.usage is not None:
            item.update(
                input_tokens=self.usage.input_tokens,
                output_tokens=self.usage.output_tokens,
                cached_tokens=self.usage.cached_tokens,
                cost_usd=money_text(self.cost_usd),
            )
        if self.note:
            item["note"] = self.note[:300]
        return item

    def describe(self) -> str:
        text = f"{self.model}: {self.status}"
        if self.kind:
            text += f" ({self.kind}"
            text += f" {self.http_status})" if self.http_status else ")"
        if self.note:
            text += f" - {self.note[:160]}"
        return text


@dataclass
class _Ctx:
    request_id: str
    started: float
    key: auth_cache.KeyInfo | None = None
    body: dict = field(default_factory=dict)
    requested_model: str = ""
    stream: bool = False
    include_usage: bool = False
    tags: list[str] = field(default_factory=list)
    features: Any = None
    decision: Any = None
    snapshot: auth_cache.TenantSnapshot | None = None
    reservation: Reservation | None = None
    attempts: list[_Attempt] = field(default_factory=list)
    calls: int = 0
    billed_failed_cost: Decimal = ZERO
    billed_failed_usage: list[Usage] = field(default_factory=list)
    claim: IdempotencyClaim | None = None
    model_hint: str = ""
    deadline: float = 0.0
    cache_ref: str | None = None  # the response-cache key when the config caches

    @property
    def latency_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def _headers(
    ctx: _Ctx,
    *,
    model: str = "",
    provider: str = "",
    cost: Decimal = ZERO,
    fallback: bool = False,
    cache: str = "miss",
) -> dict[str, str]:
    return {
        "X-Tollgate-Request-Id": ctx.request_id,
        "X-Tollgate-Model": model or ctx.model_hint,
        "X-Tollgate-Provider": provider,
        "X-Tollgate-Cost-USD": money_text(cost),
        "X-Tollgate-Fallback": "true" if fallback else "false",
        "X-Tollgate-Attempts": str(ctx.calls),
        "X-Tollgate-Cache": cache,
    }


def new_request_id() -> str:
    return uuid.uuid4().hex


def error_response(exc: ApplicationError, headers: dict[str, str]) -> GatewayResponse:
    return GatewayResponse(
        status=exc.status, headers={**headers, **exc.headers}, body=orjson.dumps(exc.as_body())
    )


# --- parsing ----------------------------------------------------------------------------------


def _parse_body(raw: bytes) -> dict:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest(
            "'model' is required: a catalog model id, 'auto' or the name of a routing config."
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise InvalidRequest(
                f"messages[{i}] must be an object with a role ({', '.join(sorted(_ROLES))})."
            )
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise InvalidRequest("'stream' must be true or false.")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InvalidRequest(f"'{name}' must be a positive integer.")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidRequest(f"'{name}' must be a number.")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.")
    return body


def _bearer(authorization: str | None) -> str:
    if not authorization:
        return ""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def authenticate(*, authorization: str | None) -> auth_cache.KeyInfo:
    secret = _bearer(authorization)
    info = await auth_cache.key_info_get(secret=secret) if secret else None
    if info is None:
        raise InvalidApiKey("Invalid API key. Send 'Authorization: Bearer tg_...'.")
    if "inference" not in info.scopes:
        raise PermissionDenied("This API key does not have the 'inference' scope.")
    auth_cache.key_mark_used(key_id=info.key_id)
    return info


# --- the use case -----------------------------------------------------------------------------


async def chat_completion(
    *,
    request_id: str,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    """Serve one request. The work runs in its own task, shielded from the client going away:
    a request the upstream already works on is finished, settled and metered regardless."""
    task = _spawn(
        _chat_completion(
            request_id=request_id, authorization=authorization, raw_body=raw_body, headers=headers
        )
    )
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_abandon)
        raise


def _abandon(task: asyncio.Task) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    response = task.result()
    if response.abandon is not None:
        response.abandon()


async def _chat_completion(
    *,
    request_id: str,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:

    ctx = _Ctx(request_id=request_id, started=time.monotonic())
    try:
        ctx.key = await authenticate(authorization=authorization)
        ctx.body = _parse_body(raw_body)
        ctx.requested_model = ctx.body["model"].strip()
        ctx.model_hint = ctx.requested_model[:200]
        ctx.stream = bool(ctx.body.get("stream"))
        ctx.include_usage = bool((ctx.body.get("stream_options") or {}).get("include_usage"))
        hints = routing_hints_from(body=ctx.body, headers=headers)
        ctx.tags = list(hints.tags)
        ctx.features = request_features_from(body=ctx.body)
        idem_key = headers.get("idempotency-key")
        if idem_key is not None:
            try:
                claim, stored = await idempotency_begin(
                    tenant_id=ctx.key.tenant_id,
                    idempotency_key=idem_key,
                    body=ctx.body,
                    wait_seconds=_deadline_seconds({}),
                )
            except (RedisError, OSError):
                # The store is down: serve the request rather than fail it (no replay possible).
                logger.warning("idempotency store unavailable request_id=%s", request_id)
                claim, stored = None, None
            if stored is not None:
                return _replay(stored)
            ctx.claim = claim
        response = await _admitted(ctx, hints)
    except ApplicationError as exc:
        response = await _fail(ctx, exc)
    except Exception:
        logger.exception("gateway internal error request_id=%s", request_id)
        await _release(ctx)
        if ctx.claim is not None:
            await idempotency_abort(claim=ctx.claim)
        exc = ApplicationError("Internal error.")
        exc.status, exc.code, exc.type = 500, "internal_error", "server_error"
        return error_response(exc, _headers(ctx))
    return response


async def _fail(ctx: _Ctx, exc: ApplicationError) -> GatewayResponse:
    if ctx.billed_failed_cost:  # the provider charged for a failed attempt: keep that spend
        await _settle(ctx, ctx.billed_failed_cost, _failed_tokens(ctx))
    else:
        await _release(ctx)
    if ctx.claim is not None:
        await idempotency_abort(claim=ctx.claim)
    rejected = isinstance(exc, BudgetExceeded | RateLimited | ModelNotAllowed)
    upstream = isinstance(exc, UpstreamError | UpstreamTimeout)
    if ctx.key is not None:  # one event per authenticated request, failures included
        served = ctx.attempts[-1] if ctx.attempts else None
        _record(
            ctx,
            status="rejected" if rejected else "error",
            model=served.model if served else "",
            provider=served.provider if served else "",
            key_source="platform",
            usage=Usage(),
            cost=ctx.billed_failed_cost,
            error_code=exc.code,
        )
    _log(ctx, status=exc.status, model=ctx.model_hint)
    cost = ctx.billed_failed_cost if upstream else ZERO
    return error_response(exc, _headers(ctx, cost=cost))


def _replay(stored: dict) -> GatewayResponse:
    headers = dict(stored.get("headers") or {})
    headers["Idempotent-Replayed"] = "true"
    content_type = stored.get("content_type") or "application/json"
    body = (stored.get("body") or "").encode()
    if content_type.startswith("text/event-stream"):

        async def once() -> AsyncIterator[bytes]:
            yield body

        return GatewayResponse(
            status=int(stored.get("status") or 200),
            headers=headers,
            content_type=content_type,
            stream=once(),
        )
    return GatewayResponse(
        status=int(stored.get("status") or 200),
        headers=headers,
        body=body,
        content_type=content_type,
    )


def _deadline_seconds(params: Mapping) -> float:
    value = params.get("timeout_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(settings.TOLLGATE_REQUEST_DEADLINE_SECONDS)


def _max_retries(params: Mapping) -> int:
    value = params.get("max_retries")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return min(value, 5)
    return int(getattr(settings, "TOLLGATE_MAX_RETRIES", 1))


def _max_output(body: Mapping, params: Mapping, model) -> int:
    requested = (
        body.get("max_completion_tokens") or body.get("max_tokens") or params.get("max_tokens")
    )
    ceiling = model.max_output_tokens or 4096
    if isinstance(requested, int) and requested > 0:
        return min(requested, ceiling)
    return ceiling


async def _admitted(ctx: _Ctx, hints) -> GatewayResponse:

    key = ctx.key
    retry_after = await rate_limit_admit(
        key_id=key.key_id,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        tokens=ctx.features.estimated_input_tokens,
    )
    if retry_after is not None:
        raise RateLimited(
            f"Rate limit of this API key reached; retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
    catalog = await auth_cache.catalog_get()
    ctx.snapshot = await auth_cache.tenant_snapshot_get(tenant_id=key.tenant_id)
    configs = ctx.snapshot.configs
    governing = config_for_model(requested_model=ctx.requested_model, configs=configs)
    used_pct = None
    if governing is not None and governing.reads_budget_state:  # one Redis round trip saved
        used_pct = await budget_used_pct(tenant_id=key.tenant_id, config_id=governing.pk)
    ctx.decision = decision = route_request(
        requested_model=ctx.requested_model,
        configs=configs,
        catalog=catalog,
        hints=hints,
        features=ctx.features,
        budget_used_pct=used_pct,
        latency_ms=latency_by_model(),
    )
    ctx.model_hint = decision.candidates[0].qualified_id
    ctx.deadline = ctx.started + _deadline_seconds(decision.params)
    body = {k: v for k, v in decision.params.items() if k not in _GATEWAY_PARAMS}
    body.update(ctx.body)
    ctx.body = body

    if decision.cache_ttl_seconds > 0:
        ctx.cache_ref = cache_key(
            tenant_id=key.tenant_id,
            candidates=[m.qualified_id for m in decision.candidates],
            body=body,
        )
        hit = await cache_get(key=ctx.cache_ref)
        if hit is not None:
            return await _cache_hit(ctx, hit)

    worst_cost, worst_tokens = ZERO, 0
    for model in decision.candidates:
        out = _max_output(body, decision.params, model)
        cost = estimate_cost(
            model=model, input_tokens=ctx.features.estimated_input_tokens, output_tokens=out
        )
        worst_cost = max(worst_cost, cost)
        worst_tokens = max(worst_tokens, ctx.features.estimated_input_tokens + out)
    ctx.reservation = await budget_reserve(
        tenant_id=key.tenant_id,
        api_key_id=key.key_id,
        config_id=decision.config.pk if decision.config else None,
        worst_case_cost_usd=worst_cost,
        worst_case_tokens=worst_tokens,
    )
    if ctx.stream:
        return await _run_stream(ctx)
    return await _run_plain(ctx)


async def _release(ctx: _Ctx) -> None:
    reservation, ctx.reservation = ctx.reservation, None
    if reservation is not None:
        try:
            await budget_release(reservation=reservation)
        except Exception:
            logger.exception("budget release failed request_id=%s", ctx.request_id)


async def _settle(ctx: _Ctx, cost: Decimal, tokens: int) -> None:
    reservation, ctx.reservation = ctx.reservation, None
    if reservation is not None:
        try:
            await budget_settle(reservation=reservation, actual_cost_usd=cost, actual_tokens=tokens)
        except Exception:
            logger.exception("budget settle failed request_id=%s", ctx.request_id)


async def _settle_and_count(ctx: _Ctx, cost: Decimal, tokens: int) -> None:
    """After an answer: the budget settles at its actual cost, the key's token rate counts it."""
    await _settle(ctx, cost, tokens)
    await rate_limit_add_tokens(
        key_id=ctx.key.key_id,
        tpm_limit=ctx.key.tpm_limit,
        tokens=tokens - ctx.features.estimated_input_tokens,
    )


async def background_wait(*, timeout: float) -> None:
    """Let this loop's gateway tasks (requests and settlements in flight) finish: graceful stop."""
    loop = asyncio.get_running_loop()
    pending = [task for task in _background if task.get_loop() is loop and not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


async def _cache_hit(ctx: _Ctx, hit: dict) -> GatewayResponse:
    saved = Decimal(hit.get("cost_usd") or "0")
    _record(
        ctx,
        status="cache_hit",
        model=hit.get("model", ""),
        provider=hit.get("provider", ""),
        key_source=hit.get("key_source", "platform"),
        usage=Usage(),
        cost=ZERO,
        saved=saved,
    )
    headers = _headers(
        ctx, model=hit.get("model", ""), provider=hit.get("provider", ""), cache="hit"
    )
    content_type = "application/json"
    if ctx.stream:
        content_type = "text/event-stream"
        body = b"".join(_sse(c) for c in _replay_chunks(hit["body"], ctx)) + b"data: [DONE]\n\n"
    else:
        body = orjson.dumps(hit["body"])
    if ctx.claim is not None:
        await idempotency_finish(
            claim=ctx.claim, status=200, headers=headers, body=body, content_type=content_type
        )
    _log(ctx, status=200, model=hit.get("model", ""))
    if ctx.stream:

        async def once() -> AsyncIterator[bytes]:
            yield body

        return GatewayResponse(
            status=200, headers=headers, content_type=content_type, stream=once()
        )
    return GatewayResponse(status=200, headers=headers, body=body)


def _replay_chunks(completion: dict, ctx: _Ctx) -> list[dict]:
    """A cached chat.completion as the stream chunks that would have produced it."""
    base = {
        "id": completion.get("id") or f"chatcmpl-{ctx.request_id}",
        "object": "chat.completion.chunk",
        "created": completion.get("created") or int(time.time()),
        "model": completion.get("model", ""),
    }
    chunks = []
    for choice in completion.get("choices") or ():
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {"index": i, **call} for i, call in enumerate(message["tool_calls"])
            ]
        index = choice.get("index", 0)
        chunks.append({**base, "choices": [{"index": index, "delta": delta}]})
        chunks.append(
            {
                **base,
                "choices": [
                    {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
                ],
            }
        )
    if ctx.include_usage and completion.get("usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


# --- upstream attempts ------------------------------------------------------------------------


def _backoff(tries: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return max(0.0, retry_after) + random.uniform(0, 0.05)
    base = float(getattr(settings, "TOLLGATE_RETRY_BASE_SECONDS", 0.2))
    delay = min(base * (2 ** (tries - 1)), 8.0)
    return random.uniform(delay / 2, delay)


def _usage_cost(model, usage: Usage) -> Decimal:
    return estimate_cost(
        model=model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
    )


def _attempt_from_error(model, err: ProviderError, started: float) -> _Attempt:
    cost = ZERO
    if err.usage is not None and (err.usage.input_tokens or err.usage.output_tokens):
        cost = _usage_cost(model, err.usage)
    return _Attempt(
        model=model.qualified_id,
        provider=model.provider_slug,
        status="error",
        kind=err.kind,
        http_status=err.status,
        latency_ms=int((time.monotonic() - started) * 1000),
        usage=err.usage if cost else None,
        cost_usd=cost,
        note=err.message,
    )


def _transport_error(exc: BaseException, timeout: float) -> ProviderError:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return ProviderError(
            f"no complete answer within {timeout:.1f} s", kind="timeout", retryable=True
        )
    if isinstance(exc, httpx.ConnectError):
        return ProviderError("connection failed", kind="connection", retryable=True)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError("connection closed mid-response", kind="connection", retryable=True)
    return ProviderError(
        f"transport error ({type(exc).__name__})", kind="connection", retryable=True
    )


async def _candidates(ctx: _Ctx):
    """Yield (model, upstream key, breaker has_state) for each callable candidate, noting skips."""
    decision = ctx.decision
    for model in decision.candidates:
        try:
            ukey = upstream_key_resolve(
                model=model, use_byok=decision.use_byok, credentials=ctx.snapshot.credentials
            )
        except NoUsableKey as exc:
            ctx.attempts.append(
                _Attempt(model.qualified_id, model.provider_slug, "skipped", note=str(exc))
            )
            continue
        allowed, has_state = await breaker_allow(
            provider=model.provider_slug, credential=ukey.breaker_id
        )
        if not allowed:
            ctx.attempts.append(
                _Attempt(
                    model.qualified_id,
                    model.provider_slug,
                    "skipped",
                    note="circuit breaker open for this provider and key",
                )
            )
            continue
        yield model, ukey, has_state


async def _with_retries(ctx: _Ctx, model, ukey: UpstreamKey, has_state: bool, call):
    """Run `call(timeout)` for one candidate with same-model retries. Returns its result, or
    None when the caller should move on to the next candidate."""
    tries = 0
    max_retries = _max_retries(ctx.decision.params)
    per_attempt = float(settings.TOLLGATE_UPSTREAM_TIMEOUT_SECONDS)
    while True:
        remaining = ctx.deadline - time.monotonic()
        if remaining <= 0:
            return None
        tries += 1
        timeout = min(per_attempt, remaining)
        started = time.monotonic()
        ctx.calls += 1
        try:
            async with asyncio.timeout(timeout):
                result = await call(timeout)
        except ProviderError as err:
            failure = err
        except (TimeoutError, httpx.HTTPError) as exc:
            failure = _transport_error(exc, timeout)
        else:
            await breaker_record(
                provider=model.provider_slug,
                credential=ukey.breaker_id,
                ok=True,
                has_state=has_state,
            )
            latency_ms = (time.monotonic() - started) * 1000
            latency_observe(model=model.qualified_id, latency_ms=latency_ms)
            ctx.attempts.append(
                _Attempt(model.qualified_id, model.provider_slug, "ok", latency_ms=int(latency_ms))
            )
            return result
        attempt = _attempt_from_error(model, failure, started)
        ctx.attempts.append(attempt)
        if attempt.cost_usd:
            ctx.billed_failed_cost += attempt.cost_usd
            ctx.billed_failed_usage.append(failure.usage)
        if failure.kind in FAILURE_KINDS:
            await breaker_record(provider=model.provider_slug, credential=ukey.breaker_id, ok=False)
        if not failure.retryable:
            raise InvalidRequest(f"The provider rejected the request: {failure.message}")
        if failure.kind not in _SAME_MODEL_RETRY_KINDS or tries > max_retries:
            return None
        delay = _backoff(tries, failure.retry_after)
        max_wait = float(getattr(settings, "TOLLGATE_MAX_RETRY_AFTER_SECONDS", 10.0))
        if delay > max_wait or time.monotonic() + delay >= ctx.deadline:
            attempt.note = (attempt.note + "; " if attempt.note else "") + (
                f"retry after {delay:.1f} s exceeds the remaining deadline: next model"
            )
            return None
        await asyncio.sleep(delay)


def _all_failed(ctx: _Ctx) -> ApplicationError:
    summary = "; ".join(a.describe() for a in ctx.attempts) or "no candidate could be called"
    made = [a for a in ctx.attempts if a.status != "skipped"]
    expired = time.monotonic() >= ctx.deadline
    if expired or (made and all(a.kind == "timeout" for a in made)):
        return UpstreamTimeout(f"No provider answered within the deadline. Attempts: {summary}")
    return UpstreamError(f"All upstream attempts failed. Attempts: {summary}")


def _upstream_request(model, ukey: UpstreamKey, body: Mapping, stream: bool):
    adapter = get_adapter(model.wire_format)
    request = adapter.build_request(
        body=body,
        model_id=model.model_id,
        base_url=ukey.base_url,
        api_key=ukey.api_key,
        auth_style=model.auth_style,
        stream=stream,
    )
    return adapter, request


async def _run_plain(ctx: _Ctx) -> GatewayResponse:
    client = get_http_client()
    served = None
    async for model, ukey, has_state in _candidates(ctx):

        async def call(timeout: float, model=model, ukey=ukey):
            adapter, request = _upstream_request(model, ukey, ctx.body, stream=False)
            response = await client.request(
                request.method,
                request.url,
                headers=request.headers,
                content=orjson.dumps(request.json),
                timeout=timeout,
            )
            if response.status_code >= 300:
                raise adapter.map_error(
                    status=response.status_code, body=response.content, headers=response.headers
                )
            try:
                payload = orjson.loads(response.content)
                if not isinstance(payload, dict):
                    raise TypeError
                return adapter.parse_response(payload=payload, model=model.model_id)
            except ProviderError:
                raise
            except Exception:
                raise ProviderError(
                    "malformed response body",
                    status=response.status_code,
                    kind="malformed",
                    retryable=True,
                ) from None

        result = await _with_retries(ctx, model, ukey, has_state, call)
        if result is not None:
            served = (model, ukey, result)
            break
    if served is None:
        raise _all_failed(ctx)
    model, ukey, result = served
    usage = result.usage
    cost = _usage_cost(model, usage) + ctx.billed_failed_cost
    fallback = model.qualified_id != ctx.decision.candidates[0].qualified_id
    tokens = usage.input_tokens + usage.output_tokens + _failed_tokens(ctx)
    # Off the client's latency: the answer goes out while the settlement's round trip runs (the
    # hold covers the worst case until then; lifespan shutdown waits for it).
    _spawn(_settle_and_count(ctx, cost, tokens))
    _record(
        ctx,
        status="fallback_success" if fallback else "success",
        model=model.qualified_id,
        provider=model.provider_slug,
        key_source=ukey.key_source,
        usage=usage,
        cost=cost,
        fallback=fallback,
    )
    headers = _headers(
        ctx, model=model.qualified_id, provider=model.provider_slug, cost=cost, fallback=fallback
    )
    body = orjson.dumps(result.body)
    await _cache_store(ctx, model, ukey, completion=result.body, cost=cost)
    if ctx.claim is not None:
        await idempotency_finish(
            claim=ctx.claim, status=200, headers=headers, body=body, content_type="application/json"
        )
    _log(ctx, status=200, model=model.qualified_id)
    return GatewayResponse(status=200, headers=headers, body=body)


async def _cache_store(ctx: _Ctx, model, ukey: UpstreamKey, *, completion: dict, cost) -> None:
    if ctx.cache_ref is None:
        return
    await cache_set(
        key=ctx.cache_ref,
        entry={
            "body": completion,
            "model": model.qualified_id,
            "provider": model.provider_slug,
            "key_source": ukey.key_source,
            "cost_usd": money_text(cost),
        },
        ttl_seconds=ctx.decision.cache_ttl_seconds,
    )


def _failed_tokens(ctx: _Ctx) -> int:
    return sum(u.input_tokens + u.output_tokens for u in ctx.billed_failed_usage if u)


# --- streaming --------------------------------------------------------------------------------


@dataclass
class _OpenStream:
    response: httpx.Response
    chunks_iter: AsyncIterator[bytes]
    parser: Any
    first: list[dict]


def _has_content(chunk: dict) -> bool:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if choice.get("finish_reason") or any(
            key != "role" and value not in (None, "", [], {}) for key, value in delta.items()
        ):
            return True
    return False


def _sse(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def _run_stream(ctx: _Ctx) -> GatewayResponse:
    client = get_http_client()
    opened = None
    async for model, ukey, has_state in _candidates(ctx):

        async def call(timeout: float, model=model, ukey=ukey) -> _OpenStream:
            adapter, request = _upstream_request(model, ukey, ctx.body, stream=True)
            http_request = client.build_request(
                request.method,
                request.url,
                headers=request.headers,
                content=orjson.dumps(request.json),
                timeout=timeout,
            )
            response = await client.send(http_request, stream=True)
            try:
                if response.status_code >= 300:
                    content = await response.aread()
                    raise adapter.map_error(
                        status=response.status_code, body=content, headers=response.headers
                    )
                parser = adapter.stream_parser(model=model.model_id, request_id=ctx.request_id)
                chunks_iter = response.aiter_raw()
                first: list[dict] = []
                # Fallback stays possible until the first byte goes to the client, so hold
                # the role-only preamble back until real content (or the end) arrives.
                while not any(map(_has_content, first)) and not parser.finished:
                    try:
                        data = await chunks_iter.__anext__()
                    except StopAsyncIteration:
                        raise ProviderError(
                            "stream ended before any content",
                            kind="malformed",
                            retryable=True,
                            usage=parser.usage,
                        ) from None
                    first.extend(parser.feed(data))
                return _OpenStream(response, chunks_iter, parser, first)
            except BaseException:
                await response.aclose()
                raise

        opened_stream = await _with_retries(ctx, model, ukey, has_state, call)
        if opened_stream is not None:
            opened = (model, ukey, opened_stream)
            break
    if opened is None:
        raise _all_failed(ctx)
    model, ukey, stream = opened
    fallback = model.qualified_id != ctx.decision.candidates[0].qualified_id
    headers = _headers(
        ctx,
        model=model.qualified_id,
        provider=model.provider_slug,
        cost=ctx.billed_failed_cost,
        fallback=fallback,
    )
    pump = _StreamPump(ctx, model, ukey, stream, headers, fallback)
    _spawn(pump.run())
    return GatewayResponse(
        status=200,
        headers=headers,
        content_type="text/event-stream",
        stream=pump.client_iter(),
        abandon=pump.abandon,
    )


class _StreamPump:
    """Reads the upstream stream to its end in its own task and feeds the client through a
    queue. If the client goes away the pump keeps reading (within the deadline) so the request
    is billed for everything the provider generated, then settles and records the event."""

    def __init__(self, ctx: _Ctx, model, ukey: UpstreamKey, stream: _OpenStream, headers, fallback):
        self.ctx, self.model, self.ukey, self.stream = ctx, model, ukey, stream
        self.headers, self.fallback = headers, fallback
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)
        self.client_gone = False
        self.transcript: list[bytes] | None = [] if ctx.claim is not None else None
        self.transcript_size = 0
        self.assembled = _AssembledCompletion() if ctx.cache_ref is not None else None

    async def client_iter(self) -> AsyncIterator[bytes]:
        """Events already queued go out in one write: a burst from upstream costs the client
        one send, while an event that arrives alone is still sent at once."""
        finished = False
        try:
            while not finished:
                item = await self.queue.get()
                if item is None:
                    finished = True
                    return
                burst = [item]
                while not self.queue.empty():
                    item = self.queue.get_nowait()
                    if item is None:
                        finished = True
                        break
                    burst.append(item)
                yield b"".join(burst)
        finally:
            if not finished:
                self.abandon()

    def abandon(self) -> None:
        """The client is gone: keep reading upstream for billing, stop queueing for it."""
        self.client_gone = True
        while not self.queue.empty():
            self.queue.get_nowait()

    async def _emit_chunk(self, chunk: dict) -> None:
        if self.assembled is not None:
            self.assembled.add(chunk)
            if self.assembled.size > _MAX_STORED_STREAM_BYTES:
                self.assembled = None
        await self._emit(_sse(chunk))

    async def _emit(self, data: bytes) -> None:
        if self.transcript is not None:
            self.transcript.append(data)
            self.transcript_size += len(data)
            if self.transcript_size > _MAX_STORED_STREAM_BYTES:
                self.transcript = None
        if not self.client_gone:
            await self.queue.put(data)

    async def run(self) -> None:
        ctx, stream, parser = self.ctx, self.stream, self.stream.parser
        error: ProviderError | None = None
        try:
            for chunk in stream.first:
                await self._emit_chunk(chunk)
            remaining = max(ctx.deadline - time.monotonic(), 0.001)
            async with asyncio.timeout(remaining):
                while not parser.finished:
                    try:
                        data = await stream.chunks_iter.__anext__()
                    except StopAsyncIteration:
                        break
                    for chunk in parser.feed(data):
                        await self._emit_chunk(chunk)
            if not parser.finished:
                error = ProviderError("the upstream stream ended early", kind="connection")
        except ProviderError as exc:
            error = exc
        except (TimeoutError, httpx.HTTPError) as exc:
            error = _transport_error(exc, ctx.deadline - ctx.started)
        except Exception as exc:
            logger.exception("stream pump failed request_id=%s", ctx.request_id)
            error = ProviderError(f"stream failed ({type(exc).__name__})", kind="server")
        finally:
            await stream.response.aclose()
        try:
            await self._finish(error)
        except Exception:
            logger.exception("stream finalisation failed request_id=%s", ctx.request_id)
            await self.queue.put(None)

    async def _finish(self, error: ProviderError | None) -> None:
        ctx, model, parser = self.ctx, self.model, self.stream.parser
        usage = parser.usage
        if not usage.input_tokens:  # the provider reports input only at the end: bill our estimate
            usage = Usage(
                input_tokens=ctx.features.estimated_input_tokens,
                output_tokens=usage.output_tokens,
                cached_tokens=usage.cached_tokens,
            )
        cost = _usage_cost(model, usage) + ctx.billed_failed_cost
        if ctx.include_usage:
            await self._emit(
                _sse(
                    {
                        "id": f"chatcmpl-{ctx.request_id}",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model.model_id,
                        "choices": [],
                        "usage": usage_to_openai(usage),
                    }
                )
            )
        if error is not None:
            ctx.attempts[-1].note = f"stream failed after the first byte: {error.message}"
            if error.kind in FAILURE_KINDS:
                await breaker_record(
                    provider=model.provider_slug, credential=self.ukey.breaker_id, ok=False
                )
            await self._emit(
                _sse(
                    {
                        "error": {
                            "message": f"The upstream stream failed: {error.message}",
                            "type": "upstream_error",
                            "code": "upstream_error",
                        }
                    }
                )
            )
        else:
            await self._emit(b"data: [DONE]\n\n")
        if not self.client_gone:
            await self.queue.put(None)
        tokens = usage.input_tokens + usage.output_tokens + _failed_tokens(ctx)
        await _settle_and_count(ctx, cost, tokens)
        if error is not None:
            status = "error"
        else:
            status = "fallback_success" if self.fallback else "success"
        _record(
            ctx,
            status=status,
            model=model.qualified_id,
            provider=model.provider_slug,
            key_source=self.ukey.key_source,
            usage=usage,
            cost=cost,
            fallback=self.fallback,
            error_code="upstream_error" if error is not None else "",
        )
        if error is None and self.assembled is not None:
            completion = self.assembled.completion(usage=usage)
            await _cache_store(ctx, model, self.ukey, completion=completion, cost=cost)
        if ctx.claim is not None:
            if error is None and self.transcript is not None:
                await idempotency_finish(
                    claim=ctx.claim,
                    status=200,
                    headers=self.headers,
                    body=b"".join(self.transcript),
                    content_type="text/event-stream",
                )
            else:
                await idempotency_abort(claim=ctx.claim)
        _log(ctx, status=200 if error is None else 502, model=model.qualified_id)


class _AssembledCompletion:
    """The chat.completion a stream adds up to (content and tool-call deltas joined), so a
    streamed answer can fill the response cache like a plain one."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict] = {}
        self.size = 0

    def add(self, chunk: dict) -> None:
        if not self.head and chunk.get("id"):
            self.head = {k: chunk.get(k) for k in ("id", "created", "model")}
        for choice in chunk.get("choices") or ():
            slot = self.choices.setdefault(
                choice.get("index", 0), {"content": [], "calls": {}, "finish_reason": None}
            )
            delta = choice.get("delta") or {}
            if delta.get("content"):
                slot["content"].append(delta["content"])
                self.size += len(delta["content"])
            for call in delta.get("tool_calls") or ():
                entry = slot["calls"].setdefault(
                    call.get("index", 0), {"id": "", "name": "", "arguments": []}
                )
                function = call.get("function") or {}
                entry["id"] = call.get("id") or entry["id"]
                entry["name"] = function.get("name") or entry["name"]
                if function.get("arguments"):
                    entry["arguments"].append(function["arguments"])
                    self.size += len(function["arguments"])
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]

    def completion(self, *, usage: Usage) -> dict:
        choices = []
        for index, slot in sorted(self.choices.items()):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(slot["content"]) or None,
            }
            if slot["calls"]:
                message["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
                    }
                    for _, call in sorted(slot["calls"].items())
                ]
            choices.append(
                {"index": index, "message": message, "finish_reason": slot["finish_reason"]}
            )
        return {
            **self.head,
            "object": "chat.completion",
            "choices": choices,
            "usage": usage_to_openai(usage),
        }


# --- metering and logging ---------------------------------------------------------------------


def _record(
    ctx: _Ctx,
    *,
    status: str,
    model: str,
    provider: str,
    key_source: str,
    usage: Usage,
    cost: Decimal,
    fallback: bool = False,
    saved: Decimal = ZERO,
    error_code: str = "",
) -> None:
    decision = ctx.decision
    usage_event_enqueue(
        event={
            "request_id": ctx.request_id,
            "tenant_id": ctx.key.tenant_id,
            "api_key_id": ctx.key.key_id,
            "config_id": decision.config.pk if decision and decision.config else None,
            "requested_model": ctx.requested_model[:260],
            "model": model,
            "provider": provider,
            "key_source": key_source,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens,
            "cost_usd": money_text(cost),
            "saved_usd": money_text(saved),
            "latency_ms": ctx.latency_ms,
            "status": status,
            "fallback": fallback,
            "attempts": [a.as_dict() for a in ctx.attempts],
            "route_reason": decision.reason if decision else "",
            "tags": ctx.tags,
            "error_code": error_code,
            "created_at": datetime.now(UTC).isoformat(),
        }
    )


def _log(ctx: _Ctx, *, status: int, model: str) -> None:
    logger.info(
        "request_id=%s tenant=%s model=%s status=%s attempts=%d latency_ms=%d",
        ctx.request_id,
        ctx.key.tenant_slug if ctx.key else "-",
        model or "-",
        status,
        ctx.calls,
        ctx.latency_ms,
    )


# --- /v1/models -------------------------------------------------------------------------------


async def models_list(*, authorization: str | None) -> dict:
    """Models this key may use: catalog models of providers it has a key for, plus `auto` and
    the tenant's routing config names (both route through the tenant's configs)."""
    key = await authenticate(authorization=authorization)
    catalog = await auth_cache.catalog_get()
    snapshot = await auth_cache.tenant_snapshot_get(tenant_id=key.tenant_id)
    use_byok = any(c.use_byok for c in snapshot.configs)
    data = []
    if any(c.is_default for c in snapshot.configs):
        data.append({"id": "auto", "object": "model", "created": 0, "owned_by": "tollgate"})
    for config in snapshot.configs:
        data.append({"id": config.name, "object": "model", "created": 0, "owned_by": "tollgate"})
    for model in catalog.all():
        if provider_has_key(model=model, use_byok=use_byok, credentials=snapshot.credentials):
            data.append(
                {
                    "id": model.qualified_id,
                    "object": "model",
                    "created": 0,
                    "owned_by": model.provider_slug,
                }
            )
    return {"object": "list", "data": data}
