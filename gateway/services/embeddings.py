"""The embeddings use case (`POST /v1/embeddings`, OpenAI's shape): the chat pipeline's steps
with an embedding model as the one candidate.

Order: key -> body -> Idempotency-Key -> rate limit -> the model (an embedding model of the
catalog, which must honour `dimensions` and the input's form) -> budget hold (the estimated
input at the model's price) -> upstream attempts (same-model retries, breakers, one deadline)
-> settle -> usage event. Failures end as a chat completion's do (chat_completions.serve_request).
The call itself (checks, hold, attempts, metering) is gateway.services.embedding_call, which the
similarity cache uses too. Upstreams are asked for floats; `encoding_format=base64` is encoded
here, as OpenAI sends it: little-endian float32, base64.
"""

from __future__ import annotations

import base64
import functools
import struct
from typing import TYPE_CHECKING, Any

import orjson

from core.errors import ModelNotAllowed
from gateway.services import snapshots
from gateway.services.admission import idempotency_claim, rate_limit_check
from gateway.services.chat_completions import replay, serve_request
from gateway.services.embedding_call import (
    embedding_features_check,
    embedding_model_get,
    embedding_request_input,
    embedding_reserve,
    embedding_serve,
)
from gateway.services.embedding_request import EmbeddingInput, parse_embedding_body
from gateway.services.holds import claim_finish
from gateway.services.metering import log_request
from gateway.services.request_parsing import authenticate
from gateway.services.responses import GatewayResponse, tollgate_headers
from llm.services.request_features import RequestFeatures
from llm.services.routing_hints import routing_hints_from

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gateway.services.context import ChatRequest, RequestInput, RequestState
    from gateway.services.snapshots import KeyInfo
    from llm.providers.contract import Usage
    from llm.services.routing_hints import RoutingHints


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
    state.reservation = await embedding_reserve(request)
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
    model = embedding_model_get(catalog, chat.requested_model)
    access = snapshots.key_access(key=key, snapshot=snapshot)
    if not (access.allows_direct and access.allows(model)):
        raise ModelNotAllowed(
            f"Model {model.qualified_id!r} is not allowed for this API key or tenant plan."
        )
    embedding_features_check(model, embedding)
    return embedding_request_input(
        state,
        key=key,
        chat=chat,
        hints=hints,
        features=features,
        snapshot=snapshot,
        model=model,
        config=next((c for c in snapshot.configs if c.is_default), None),
        reason=f"embeddings with {model.qualified_id}",
    )


async def _answer(
    request: RequestInput, state: RequestState, embedding: EmbeddingInput
) -> GatewayResponse:
    """The first answer; the settlement runs while it goes out (as a plain chat answer's)."""
    answer = await embedding_serve(request, state, embedding)
    model = answer.model
    headers = tollgate_headers(
        state, model=model.qualified_id, provider=model.provider_slug, cost=answer.cost
    )
    body = orjson.dumps(
        embedding_list(
            vectors=answer.vectors,
            model_id=model.model_id,
            usage=answer.usage,
            encoding_format=embedding.encoding_format,
        )
    )
    await claim_finish(state, headers=headers, body=body, content_type="application/json")
    log_request(state, status=200, model=model.qualified_id)
    return GatewayResponse(status=200, headers=headers, body=body)


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
