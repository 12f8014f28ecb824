"""The embeddings use case (`POST /v1/embeddings`, OpenAI's shape): the chat pipeline's steps
with an embedding model as the one candidate.

Order: key -> body -> Idempotency-Key -> rate limit -> the model (an embedding model of the
catalog, which must honour `dimensions` and the input's form) -> budget hold (the estimated
input at the model's price) -> upstream attempts (same-model retries, breakers, one deadline)
-> settle -> usage event. Failures end as a chat completion's do (chat_completions.serve_request).
Upstreams are asked for floats; `encoding_format=base64` is encoded here, as OpenAI sends it:
little-endian float32, base64.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import struct
from typing import TYPE_CHECKING, Any

import orjson

from billing.services.budgets import budget_reserve
from core.errors import InvalidRequest, ModelNotAllowed, UnsupportedFeature
from gateway.services import snapshots
from gateway.services.admission import deadline_seconds, idempotency_claim, rate_limit_check
from gateway.services.attempts import first_answer
from gateway.services.background import spawn
from gateway.services.chat_completions import replay, serve_request
from gateway.services.context import RequestInput
from gateway.services.embedding_request import EmbeddingInput, parse_embedding_body
from gateway.services.holds import claim_finish, settle_and_count
from gateway.services.metering import log_request, record_answer, usage_cost
from gateway.services.request_parsing import authenticate
from gateway.services.responses import GatewayResponse, tollgate_headers
from llm.providers.contract import EmbeddingResult, ProviderError, Usage
from llm.providers.http import upstream_call
from llm.providers.registry import get_embedding_adapter
from llm.services.request_features import RequestFeatures
from llm.services.router import RouteDecision
from llm.services.routing_hints import routing_hints_from
from llm.services.token_cost import worst_case_cost

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gateway.services.context import ChatRequest, RequestState
    from gateway.services.snapshots import KeyInfo
    from gateway.services.upstream_keys import UpstreamKey
    from llm.services.routing_hints import RoutingHints
    from llm.services.routing_snapshots import ModelInfo

_GATEWAY_PARAMS = ("timeout_seconds", "max_retries")  # the default config's, for the call


async def embeddings_create(
    *,
    request_id: str,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    return await serve_request(
        request_id=request_id,
        serve=functools.partial(
            _serve, authorization=authorization, raw_body=raw_body, headers=headers
        ),
    )


async def _serve(
    state: RequestState,
    *,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    state.key = key = await authenticate(authorization=authorization)
    state.chat, embedding = parse_embedding_body(raw_body)
    state.hints = hints = routing_hints_from(body=state.chat.body, headers=headers)
    state.claim, stored = await idempotency_claim(
        state, key=key, chat=state.chat, idempotency_key=headers.get("idempotency-key")
    )
    if stored is not None:
        return replay(stored)
    features = RequestFeatures(
        estimated_input_tokens=embedding.estimated_tokens,
        has_tools=False,
        has_images=False,
        json_mode=False,
        complexity="low",
        requested_max_tokens=0,
    )
    await rate_limit_check(key, features)
    state.admitted = request = await _admit(
        state, key=key, chat=state.chat, hints=hints, features=features, embedding=embedding
    )
    model = request.decision.candidates[0]
    config = request.decision.config
    state.reservation = await budget_reserve(
        tenant_id=key.tenant_id,
        api_key_id=key.key_id,
        config_id=config.pk if config else None,
        worst_case_cost_usd=worst_case_cost(
            model=model, input_tokens=features.estimated_input_tokens, output_tokens=0
        ),
        worst_case_tokens=features.estimated_input_tokens,
    )
    return await _answer(request, state, embedding)


async def _admit(
    state: RequestState,
    *,
    key: KeyInfo,
    chat: ChatRequest,
    hints: RoutingHints,
    features: RequestFeatures,
    embedding: EmbeddingInput,
) -> RequestInput:
    """The request as it will be served: its embedding model (with the default config's key
    choice and time limits), checked against what the body asks of it."""
    catalog = await snapshots.catalog_get()
    snapshot = await snapshots.tenant_snapshot_get(tenant_id=key.tenant_id)
    model = _embedding_model(catalog, chat.requested_model)
    access = snapshots.key_access(key=key, snapshot=snapshot)
    if not (access.allows_direct and access.allows(model)):
        raise ModelNotAllowed(
            f"Model {model.qualified_id!r} is not allowed for this API key or tenant plan."
        )
    _check_features(model, embedding)
    default = next((c for c in snapshot.configs if c.is_default), None)
    params = {k: v for k, v in (default.params if default else {}).items() if k in _GATEWAY_PARAMS}
    decision = RouteDecision(
        config=default,
        candidates=(model,),
        reason=f"embeddings with {model.qualified_id}",
        rule_index=None,
        params=params,
        cache_ttl_seconds=0,
        use_byok=default.use_byok if default else False,
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


def _embedding_model(catalog: Any, ref: str) -> ModelInfo:
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


def _check_features(model: ModelInfo, embedding: EmbeddingInput) -> None:
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


async def _answer(
    request: RequestInput, state: RequestState, embedding: EmbeddingInput
) -> GatewayResponse:
    """The first answer; the settlement runs while it goes out (as a plain chat answer's)."""
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
    headers = tollgate_headers(
        state, model=model.qualified_id, provider=model.provider_slug, cost=cost
    )
    body = orjson.dumps(
        embedding_list(
            vectors=result.vectors,
            model_id=model.model_id,
            usage=usage,
            encoding_format=embedding.encoding_format,
        )
    )
    await claim_finish(state, headers=headers, body=body, content_type="application/json")
    log_request(state, status=200, model=model.qualified_id)
    return GatewayResponse(status=200, headers=headers, body=body)


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


def embedding_list(
    *, vectors: list[list[float]], model_id: str, usage: Usage, encoding_format: str
) -> dict[str, Any]:
    """OpenAI's embeddings response; base64 is little-endian float32, as OpenAI encodes it."""
    data = []
    for index, vector in enumerate(vectors):
        value: Any = vector
        if encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = usage.input_tokens
    return {
        "object": "list",
        "data": data,
        "model": model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
