"""Upstream attempts: the candidates in fallback order, same-model retries with backoff, all
within the request's one deadline, each call or skip noted in the request's attempt log.

A candidate is skipped when there is no usable key for its provider or its circuit breaker is
open. A retryable failure of kind rate_limit, server or connection is retried on the same model
(up to max_retries, with backoff or the provider's Retry-After when it fits the deadline); any
other retryable failure moves on to the next candidate; a non-retryable one (the provider
rejected the request itself) fails the request at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.conf import settings

from core.errors import ApplicationError, InvalidRequest, UpstreamError, UpstreamTimeout
from core.metrics import fallback_observe, upstream_observe
from core.upstream_health import upstream_health_observe
from gateway.services.attempt_log import Attempt
from gateway.services.breaker import FAILURE_KINDS, breaker_allow, breaker_record
from gateway.services.metering import usage_cost
from gateway.services.upstream_body import translation_refusal, upstream_body
from gateway.services.upstream_keys import (
    NoUsableKey,
    UpstreamKey,
    error_without_key,
    upstream_key_resolve,
)
from llm.providers.contract import ProviderError
from llm.providers.http import TRANSPORT_ERRORS, transport_error
from llm.providers.registry import get_adapter
from llm.services.latency import latency_observe

if TYPE_CHECKING:
    from gateway.services.attempt_log import AttemptLog
    from gateway.services.context import RequestInput
    from llm.providers.contract import ProviderAdapter, UpstreamRequest
    from llm.services.routing_snapshots import ModelInfo

T = TypeVar("T")
ZERO = Decimal(0)
_SAME_MODEL_RETRY_KINDS = frozenset({"rate_limit", "server", "connection"})
# Failures that are the request's fault, not the upstream's: no error in its health figures.
_REQUEST_FAULT_KINDS = frozenset({"bad_request", "context_length"})


@dataclass(frozen=True)
class Served(Generic[T]):
    """The candidate that answered and what its call returned."""

    model: ModelInfo
    ukey: UpstreamKey
    result: T
    fallback: bool  # not the first candidate


async def first_answer(
    request: RequestInput,
    log: AttemptLog,
    call: Callable[[ModelInfo, UpstreamKey, float], Awaitable[T]],
) -> Served[T]:
    """`call(model, ukey, timeout)` on each candidate in turn until one answers; the
    all-failed error (UpstreamError or UpstreamTimeout, naming each attempt) when none does."""
    async for model, ukey, has_state in _candidates(request, log):
        result = await _with_retries(request, log, model, ukey, has_state, call)
        if result is not None:
            fallback = request.is_fallback(model)
            if fallback:
                first = request.decision.candidates[0].provider_slug
                fallback_observe(from_provider=first, to_provider=model.provider_slug)
            return Served(model, ukey, result, fallback=fallback)
    raise _all_failed(request, log)


def upstream_request(
    model: ModelInfo, ukey: UpstreamKey, body: Mapping[str, Any], *, stream: bool
) -> tuple[ProviderAdapter, UpstreamRequest]:
    """The adapter of the model's wire format and the request it builds for this call (guarded
    when it goes to a tenant's own base URL)."""
    adapter = get_adapter(model.wire_format, body=body, responses_api=model.responses_api)
    body = upstream_body(model=model, body=body)
    request = adapter.build_request(
        body=body,
        model_id=model.model_id,
        base_url=ukey.base_url,
        api_key=ukey.api_key,
        auth_style=model.auth_style,
        stream=stream,
    )
    return adapter, dataclasses.replace(request, guarded=ukey.guarded)


def backoff(tries: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return max(0.0, retry_after) + random.uniform(0, 0.05)
    base = float(settings.TOLLGATE_RETRY_BASE_SECONDS)
    delay = min(base * (2 ** (tries - 1)), 8.0)
    return random.uniform(delay / 2, delay)


def attempt_from_error(model: ModelInfo, err: ProviderError, started: float) -> Attempt:
    """The failed attempt, with its cost when the provider billed it (usage reported)."""
    cost = ZERO
    if err.usage is not None and (err.usage.input_tokens or err.usage.output_tokens):
        cost = usage_cost(model, err.usage)
    return Attempt(
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


def _max_retries(params: Mapping[str, Any]) -> int:
    value = params.get("max_retries")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return min(value, 5)
    return int(settings.TOLLGATE_MAX_RETRIES)


async def _candidates(
    request: RequestInput, log: AttemptLog
) -> AsyncIterator[tuple[ModelInfo, UpstreamKey, bool]]:
    """Yield (model, upstream key, breaker has_state) for each callable candidate, noting skips."""
    decision = request.decision
    for model in decision.candidates:
        refusal = translation_refusal(model=model, body=request.body)
        if refusal is not None:  # the next candidate may serve it natively
            log.attempts.append(
                Attempt(model.qualified_id, model.provider_slug, "skipped", note=refusal.message)
            )
            continue
        try:
            ukey = upstream_key_resolve(
                model=model, use_byok=decision.use_byok, credentials=request.snapshot.credentials
            )
        except NoUsableKey as exc:
            log.attempts.append(
                Attempt(model.qualified_id, model.provider_slug, "skipped", note=str(exc))
            )
            continue
        allowed, has_state = await breaker_allow(
            provider=model.provider_slug, credential=ukey.breaker_id
        )
        if not allowed:
            log.attempts.append(
                Attempt(
                    model.qualified_id,
                    model.provider_slug,
                    "skipped",
                    note="circuit breaker open for this provider and key",
                )
            )
            continue
        yield model, ukey, has_state


async def _with_retries(
    request: RequestInput,
    log: AttemptLog,
    model: ModelInfo,
    ukey: UpstreamKey,
    has_state: bool,
    call: Callable[[ModelInfo, UpstreamKey, float], Awaitable[T]],
) -> T | None:
    """One candidate with same-model retries: its result, or None to move on to the next."""
    tries = 0
    max_retries = _max_retries(request.decision.params)
    per_attempt = float(settings.TOLLGATE_UPSTREAM_TIMEOUT_SECONDS)
    while True:
        remaining = request.deadline - time.monotonic()
        if remaining <= 0:
            return None
        tries += 1
        timeout = min(per_attempt, remaining)
        started = time.monotonic()
        log.calls += 1
        try:
            async with asyncio.timeout(timeout):
                result = await call(model, ukey, timeout)
        except ProviderError as err:
            failure = err
        except TRANSPORT_ERRORS as exc:
            failure = transport_error(exc, timeout=timeout)
        else:
            log.upstream_seconds += time.monotonic() - started
            await _note_success(log, model, ukey, has_state, started)
            return result
        log.upstream_seconds += time.monotonic() - started
        attempt = await _note_failure(log, model, ukey, failure, started)
        if failure.kind not in _SAME_MODEL_RETRY_KINDS or tries > max_retries:
            return None
        if not await _wait_to_retry(request, attempt, tries, failure):
            return None


async def _note_success(
    log: AttemptLog, model: ModelInfo, ukey: UpstreamKey, has_state: bool, started: float
) -> None:
    await breaker_record(
        provider=model.provider_slug, credential=ukey.breaker_id, ok=True, has_state=has_state
    )
    latency_ms = (time.monotonic() - started) * 1000
    latency_observe(model=model.qualified_id, latency_ms=latency_ms)
    upstream_observe(provider=model.provider_slug, seconds=latency_ms / 1000)
    upstream_health_observe(
        provider=model.provider_slug, credential=ukey.breaker_id, ok=True, latency_ms=latency_ms
    )
    log.attempts.append(
        Attempt(
            model.qualified_id,
            model.provider_slug,
            "ok",
            latency_ms=int(latency_ms),
            credential_id=ukey.credential_id,
        )
    )


async def _note_failure(
    log: AttemptLog, model: ModelInfo, ukey: UpstreamKey, failure: ProviderError, started: float
) -> Attempt:
    """Log the failed attempt and count it against the breaker; a failure that is not worth
    another attempt (the provider rejected the request itself) fails the request here."""
    error_without_key(error=failure, ukey=ukey)
    seconds = time.monotonic() - started
    attempt = attempt_from_error(model, failure, started)
    attempt.credential_id = ukey.credential_id
    log.attempts.append(attempt)
    upstream_observe(provider=model.provider_slug, seconds=seconds, error_kind=failure.kind)
    upstream_health_observe(
        provider=model.provider_slug,
        credential=ukey.breaker_id,
        ok=failure.kind in _REQUEST_FAULT_KINDS,
        latency_ms=seconds * 1000,
    )
    if failure.kind in FAILURE_KINDS:
        await breaker_record(provider=model.provider_slug, credential=ukey.breaker_id, ok=False)
    if not failure.retryable:
        raise InvalidRequest(f"The provider rejected the request: {failure.message}")
    return attempt


async def _wait_to_retry(
    request: RequestInput, attempt: Attempt, tries: int, failure: ProviderError
) -> bool:
    """Sleep the backoff before the next try; False (noted) when it would not fit the deadline."""
    delay = backoff(tries, failure.retry_after)
    max_wait = float(settings.TOLLGATE_MAX_RETRY_AFTER_SECONDS)
    if delay > max_wait or time.monotonic() + delay >= request.deadline:
        attempt.note = (attempt.note + "; " if attempt.note else "") + (
            f"retry after {delay:.1f} s exceeds the remaining deadline: next model"
        )
        return False
    await asyncio.sleep(delay)
    return True


def _all_failed(request: RequestInput, log: AttemptLog) -> ApplicationError:
    summary = "; ".join(a.describe() for a in log.attempts) or "no candidate could be called"
    made = [a for a in log.attempts if a.status != "skipped"]
    refusals = (
        translation_refusal(model=m, body=request.body) for m in request.decision.candidates
    )
    refusal = next(filter(None, refusals), None)
    if refusal is not None and not made:  # no candidate could serve the feature: name it
        return refusal
    expired = time.monotonic() >= request.deadline
    if expired or (made and all(a.kind == "timeout" for a in made)):
        return UpstreamTimeout(f"No provider answered within the deadline. Attempts: {summary}")
    return UpstreamError(f"All upstream attempts failed. Attempts: {summary}")
