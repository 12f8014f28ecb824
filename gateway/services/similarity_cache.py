"""The similarity (semantic) cache on the request path, opt-in per routing config
(`similarity_cache`, llm/similarity_settings.py), after the exact cache missed.

The request's last message (a user turn) is embedded with the config's embedding model through
the embeddings call (gateway.services.embedding_call): a real upstream call, metered and billed
as its own usage event (request id `<id>-sim`) under the tenant, key and config. Everything else
that shapes the answer (the earlier messages, the parameters, the candidate chain) must match
exactly: its hash scopes the search. The nearest stored prompt of the same tenant and config
(exact cosine over the in-process index, gateway.services.similarity_index) at or above the
threshold is served like an exact-cache hit. After a miss, a successful answer (plain, or a
stream assembled as the exact cache assembles it) is stored in the background.

Skipped without an embedding call: images, tools (unless allow_tools), a temperature other than
0 or none given (the provider's default is not 0; unless allow_temperature), a last message that
is not plain user text, or a prompt longer than the embedding model takes.

The index modules (numpy: ~9 MiB per web worker) are imported by the first request that uses the
cache, not at start-up: most deployments never turn it on (bench/README.md, "RSS per worker").
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from asgiref.sync import sync_to_async

from core.errors import ApplicationError
from gateway.services import snapshots
from gateway.services.background import spawn
from gateway.services.context import ChatRequest, RequestState
from gateway.services.embedding_call import (
    embedding_request_input,
    embedding_reserve,
    embedding_serve,
)
from gateway.services.embedding_request import EmbeddingInput
from gateway.services.failure_metering import failure_settle_and_record
from gateway.services.response_cache import answer_shaping_fields
from gateway.services.similarity_probe import SimilarityProbe
from llm.services.request_features import RequestFeatures

if TYPE_CHECKING:
    import numpy as np

    from gateway.services.context import RequestInput
    from llm.services.routing_snapshots import ModelInfo
    from llm.similarity_settings import SimilaritySettings

logger = logging.getLogger("tollgate.gateway")


async def similarity_lookup(
    request: RequestInput, state: RequestState
) -> tuple[RequestInput, dict[str, Any] | None]:
    """(request carrying its probe, None) after a miss; (request, stored answer) on a hit;
    the request unchanged when the config has no similarity cache or the request skips it."""
    config = request.decision.config
    settings = config.similarity if config is not None else None
    text = _prompt_text(request, settings) if settings is not None else None
    if settings is None or config is None or text is None:
        return request, None
    catalog = await snapshots.catalog_get()
    model = catalog.resolve_embedding(settings.embedding_model)
    if model is None or not model.is_priced or not request.snapshot.access.tenant_allows(model):
        logger.warning(
            "similarity cache skipped: embedding model %r unavailable request_id=%s",
            settings.embedding_model[:200],
            request.request_id,
        )
        return request, None
    vector = await _embed(request, model, settings, text)
    if vector is None:
        return request, None
    probe = SimilarityProbe(
        settings=settings,
        tenant_id=request.key.tenant_id,
        config_id=config.pk,
        embedding_model=model.qualified_id,
        params_hash=params_hash(request),
        vector=vector,
    )
    from gateway.services.similarity_indexes import similarity_index_get  # numpy: see the top

    index = similarity_index_get(
        scope=(probe.tenant_id, probe.config_id),
        embedding_model=probe.embedding_model,
        capacity=settings.max_entries,
        dimensions=int(vector.shape[0]),
    )
    found = None
    if index is not None:
        found = index.best(
            vector=vector, params_hash=probe.params_hash, threshold=settings.threshold
        )
    if found is not None:
        return request, found[1]
    return dataclasses.replace(request, similarity=probe), None


def similarity_remember(request: RequestInput, entry: dict[str, Any]) -> None:
    """After a miss: store the answer (`entry` as the exact cache keeps it), off the client's
    latency."""
    probe = request.similarity
    if probe is not None:
        spawn(_store(probe, entry))


def params_hash(request: RequestInput) -> str:
    """What must match exactly for a stored answer to serve: every field that shapes the answer
    but the last message, and the candidate chain."""
    body = answer_shaping_fields(request.body)
    body["messages"] = list(body.get("messages") or [])[:-1]
    candidates = [m.qualified_id for m in request.decision.candidates]
    raw = orjson.dumps({"m": candidates, "b": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()


def _prompt_text(request: RequestInput, settings: SimilaritySettings) -> str | None:
    body = request.body
    if request.features.has_images:
        return None
    if not settings.allow_tools and (
        request.features.has_tools or body.get("tools") or body.get("functions")
    ):
        return None
    temperature = body.get("temperature")
    if not settings.allow_temperature and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature
    ):
        return None
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if not isinstance(last, dict) or last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
            return None
        content = "\n".join(str(p.get("text") or "") for p in content)
    return content if isinstance(content, str) and content.strip() else None


async def _embed(
    request: RequestInput, model: ModelInfo, settings: SimilaritySettings, text: str
) -> np.ndarray | None:
    """The prompt's unit vector from one metered embeddings call; None when it failed (the
    failure is metered as the embeddings path meters it, and the request goes on uncached)."""
    embedding = EmbeddingInput(
        inputs=[text],
        token_arrays=False,
        dimensions=settings.dimensions,
        encoding_format="float",
        user=request.hints.user,
    )
    tokens = embedding.estimated_tokens
    if model.context_window and tokens > model.context_window:
        return None
    state = RequestState(
        request_id=f"{request.request_id[:60]}-sim",
        started=time.monotonic(),
        key=request.key,
        chat=ChatRequest(
            body={"model": settings.embedding_model, "input": text},
            requested_model=settings.embedding_model,
            stream=False,
            include_usage=False,
        ),
        hints=request.hints,
    )
    sub = embedding_request_input(
        state,
        key=request.key,
        chat=state.chat,  # type: ignore[arg-type]  (set just above)
        hints=request.hints,
        features=RequestFeatures(
            estimated_input_tokens=tokens,
            has_tools=False,
            has_images=False,
            json_mode=False,
            complexity="low",
            requested_max_tokens=0,
        ),
        snapshot=request.snapshot,
        model=model,
        config=request.decision.config,
        reason=f"similarity cache: prompt embedding with {model.qualified_id}",
    )
    state.admitted = sub
    try:
        state.reservation = await embedding_reserve(sub)
        answer = await embedding_serve(sub, state, embedding)
    except ApplicationError as exc:
        await _embedding_failed(state, exc)
        return None
    from gateway.services.similarity_index import unit_vector  # numpy: see the top

    return unit_vector(answer.vectors[0]) if answer.vectors else None


async def _embedding_failed(state: RequestState, exc: ApplicationError) -> None:
    """Metered as a failed /v1/embeddings call is (the chat pipeline's failure path)."""
    await failure_settle_and_record(state, exc)
    logger.warning(
        "similarity cache skipped: prompt embedding failed (%s) request_id=%s",
        exc.code,
        state.request_id,
    )


async def _store(probe: SimilarityProbe, entry: dict[str, Any]) -> None:
    # Django app loading: the request path imports this module before the models are ready.
    from gateway.services.similarity_indexes import similarity_index_add
    from gateway.services.similarity_store import semantic_entry_create

    settings = probe.settings
    try:
        stored = await sync_to_async(semantic_entry_create, thread_sensitive=False)(
            tenant_id=probe.tenant_id,
            config_id=probe.config_id,
            embedding_model=probe.embedding_model,
            params_hash=probe.params_hash,
            vector=probe.vector,
            answer=entry,
            ttl_seconds=settings.ttl_seconds,
            max_entries=settings.max_entries,
        )
    except Exception:
        logger.exception("similarity cache write failed tenant=%s", probe.tenant_id)
        return
    similarity_index_add(
        scope=(probe.tenant_id, probe.config_id),
        embedding_model=probe.embedding_model,
        entry=stored,
    )
