"""The metered embeddings call, shared by `POST /v1/embeddings` (gateway.services.embeddings)
and the similarity cache's prompt embedding (gateway.services.similarity_cache): the model
checks, the budget hold, the upstream attempts, the settlement and the usage event. It imports
no use case, so both can use it without a circle."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from billing.services.budgets import budget_reserve
from core.errors import InvalidRequest, ModelNotAllowed, UnsupportedFeature
from gateway.services.admission import deadline_seconds
from gateway.services.attempts import first_answer
from gateway.services.background import spawn
from gateway.services.context import RequestInput
from gateway.services.holds import settle_and_count
from gateway.services.metering import record_answer, usage_cost
from llm.providers.contract import EmbeddingResult, ProviderError, Usage
from llm.providers.http import upstream_call
from llm.providers.registry import get_embedding_adapter
from llm.services.router import RouteDecision
from llm.services.token_cost import worst_case_cost

if TYPE_CHECKING:
    from billing.services.reservation import Reservation
    from gateway.services.context import ChatRequest, RequestState
    from gateway.services.embedding_request import EmbeddingInput
    from gateway.services.snapshots import KeyInfo, TenantSnapshot
    from gateway.services.upstream_keys import UpstreamKey
    from llm.services.request_features import RequestFeatures
    from llm.services.routing_hints import RoutingHints
    from llm.services.routing_snapshots import ConfigInfo, ModelInfo

_GATEWAY_PARAMS = ("timeout_seconds", "max_retries")  # the config's, for the call


@dataclass(frozen=True)
class EmbeddedAnswer:
    model: ModelInfo
    vectors: list[list[float]]
    usage: Usage  # as billed (our estimate where the provider reports none)
    cost: Decimal


def embedding_model_get(catalog: Any, ref: str) -> ModelInfo:
    """The priced embedding model `ref` names; a clear 400 (or 403 unpriced) otherwise."""
    model = catalog.resolve_embedding(ref)
    shown = ref[:200]
    if model is None:
        if catalog.resolve(ref) is not None:
            raise InvalidRequest(
                f"Model {shown!r} is a chat model: /v1/embeddings needs an embedding model "
                "(see GET /v1/models).",
                extra={"param": "model"},
            )
        raise InvalidRequest(
            f"Unknown embedding model {shown!r} (see GET /v1/models).", extra={"param": "model"}
        )
    if not model.is_priced:
        raise ModelNotAllowed(
            f"Model {model.qualified_id!r} has no known price and cannot be used."
        )
    return model


def embedding_features_check(model: ModelInfo, embedding: EmbeddingInput) -> None:
    if embedding.dimensions is not None and "dimensions" not in model.capabilities:
        raise UnsupportedFeature(
            f"Model {model.qualified_id!r} does not support 'dimensions': it returns vectors "
            "of one size only.",
            param="dimensions",
        )
    if embedding.token_arrays and not get_embedding_adapter(model.wire_format).token_input:
        raise UnsupportedFeature(
            f"Model {model.qualified_id!r} embeds text only: 'input' as token arrays is not "
            "supported.",
            param="input",
        )


def embedding_request_input(
    state: RequestState,
    *,
    key: KeyInfo,
    chat: ChatRequest,
    hints: RoutingHints,
    features: RequestFeatures,
    snapshot: TenantSnapshot,
    model: ModelInfo,
    config: ConfigInfo | None,
    reason: str,
) -> RequestInput:
    """The request as it will be served: `model` the one candidate, with `config`'s key
    choice and time limits (the config it is metered under)."""
    params = {k: v for k, v in (config.params if config else {}).items() if k in _GATEWAY_PARAMS}
    decision = RouteDecision(
        config=config,
        candidates=(model,),
        reason=reason,
        rule_index=None,
        params=params,
        cache_ttl_seconds=0,
        use_byok=config.use_byok if config else False,
    )
    return RequestInput(
        request_id=state.request_id,
        started=state.started,
        key=key,
        chat=chat,
        hints=hints,
        features=features,
        snapshot=snapshot,
        decision=decision,
        body=chat.body,
        deadline=state.started + deadline_seconds(params),
        cache_ref=None,
    )


async def embedding_reserve(request: RequestInput) -> Reservation:
    """Hold the estimated input at the model's price against every budget."""
    model = request.decision.candidates[0]
    config = request.decision.config
    tokens = request.features.estimated_input_tokens
    return await budget_reserve(
        tenant_id=request.key.tenant_id,
        api_key_id=request.key.key_id,
        config_id=config.pk if config else None,
        worst_case_cost_usd=worst_case_cost(model=model, input_tokens=tokens, output_tokens=0),
        worst_case_tokens=tokens,
        end_user=request.hints.user,
    )


async def embedding_serve(
    request: RequestInput, state: RequestState, embedding: EmbeddingInput
) -> EmbeddedAnswer:
    """The first answer, metered; the settlement runs while the caller goes on."""
    served = await first_answer(request, state.log, functools.partial(_call, embedding))
    model, result = served.model, served.result
    usage = result.usage
    if not usage.input_tokens:  # the provider reports no count: bill our estimate
        usage = Usage(input_tokens=embedding.estimated_tokens)
    cost = usage_cost(model, usage) + state.log.billed_failed_cost
    tokens = usage.input_tokens + state.log.billed_failed_tokens
    spawn(settle_and_count(request, state, cost=cost, tokens=tokens))
    record_answer(
        state,
        model=model,
        key_source=served.ukey.key_source,
        usage=usage,
        cost=cost,
        fallback=served.fallback,
    )
    return EmbeddedAnswer(model=model, vectors=result.vectors, usage=usage, cost=cost)


async def _call(
    embedding: EmbeddingInput, model: ModelInfo, ukey: UpstreamKey, timeout: float
) -> EmbeddingResult:
    adapter = get_embedding_adapter(model.wire_format)
    upstream = adapter.build_request(
        inputs=embedding.inputs,
        model_id=model.model_id,
        base_url=ukey.base_url,
        api_key=ukey.api_key,
        auth_style=model.auth_style,
        dimensions=embedding.dimensions,
        user=embedding.user,
    )
    result = await upstream_call(
        adapter=adapter,  # type: ignore[arg-type]  (same calling convention, other result)
        request=dataclasses.replace(upstream, guarded=ukey.guarded),
        model_id=model.model_id,
        timeout=timeout,
    )
    if len(result.vectors) != len(embedding.inputs):
        raise ProviderError(
            f"upstream returned {len(result.vectors)} vectors for {len(embedding.inputs)} inputs",
            kind="malformed",
            retryable=True,
        )
    return result  # type: ignore[return-value]
