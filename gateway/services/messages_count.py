"""`POST /v1/messages/count_tokens`: how many input tokens a Messages request holds, for the
model routing would serve it with. An Anthropic model counts natively (its own count_tokens
endpoint); any other model, or an Anthropic call that fails, gets the gateway's estimate,
marked `"estimated": true`. Counting is free (no usage event, no budget hold) but counts
against the key's rate limit, as a request."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import orjson
from django.conf import settings

from core.errors import ApplicationError
from gateway.services import snapshots
from gateway.services.admission import rate_limit_check
from gateway.services.messages_inbound import (
    anthropic_response,
    messages_authorization,
    parse_messages_body,
)
from gateway.services.request_parsing import authenticate
from gateway.services.responses import GatewayResponse, error_response
from gateway.services.upstream_keys import NoUsableKey, upstream_key_resolve
from llm.providers.anthropic_inbound import NATIVE_KEY
from llm.providers.anthropic_native import CountTokensReader, count_tokens_request
from llm.providers.contract import ProviderError
from llm.providers.http import TRANSPORT_ERRORS, upstream_call
from llm.services.latency import latency_by_model
from llm.services.request_features import request_features_from
from llm.services.router import route_request
from llm.services.routing_hints import routing_hints_from

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gateway.services.context import ChatRequest
    from gateway.services.snapshots import TenantSnapshot
    from llm.services.router import RouteDecision

_READER = CountTokensReader()


async def messages_count_tokens(
    *,
    request_id: str,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    out = {"X-Tollgate-Request-Id": request_id}
    try:
        key = await authenticate(authorization=messages_authorization(headers))
        chat = parse_messages_body(raw_body, counting=True)
        hints = routing_hints_from(body=chat.body, headers=headers)
        features = request_features_from(body=chat.body)
        await rate_limit_check(key, features)
        snapshot = await snapshots.tenant_snapshot_get(tenant_id=key.tenant_id)
        decision = route_request(
            requested_model=chat.requested_model,
            configs=snapshot.configs,
            catalog=await snapshots.catalog_get(),
            hints=hints,
            features=features,
            budget_used_pct=None,
            latency_ms=latency_by_model(),
            access=snapshots.key_access(key=key, snapshot=snapshot),
        )
    except ApplicationError as exc:
        return anthropic_response(error_response(exc, out), request_id=request_id)
    model = decision.candidates[0]
    counted = await _count_natively(chat, decision, snapshot)
    body: dict = {"input_tokens": features.estimated_input_tokens, "estimated": True}
    if counted is not None:
        body = {"input_tokens": counted}
    out.update({"X-Tollgate-Model": model.qualified_id, "X-Tollgate-Provider": model.provider_slug})
    return GatewayResponse(status=200, headers=out, body=orjson.dumps(body))


async def _count_natively(
    chat: ChatRequest, decision: RouteDecision, snapshot: TenantSnapshot
) -> int | None:
    """Anthropic's own count for its model; None for another model or when the call fails."""
    model = decision.candidates[0]
    if model.wire_format != _READER.wire_format:
        return None
    try:
        ukey = upstream_key_resolve(
            model=model, use_byok=decision.use_byok, credentials=snapshot.credentials
        )
    except NoUsableKey:
        return None
    request = count_tokens_request(
        native=chat.body[NATIVE_KEY],
        model_id=model.model_id,
        base_url=ukey.base_url,
        api_key=ukey.api_key,
        auth_style=model.auth_style,
    )
    timeout = float(settings.TOLLGATE_UPSTREAM_TIMEOUT_SECONDS)
    try:
        return await upstream_call(
            adapter=_READER,  # type: ignore[arg-type]  (same calling convention, other result)
            request=dataclasses.replace(request, guarded=ukey.guarded),
            model_id=model.model_id,
            timeout=timeout,
        )
    except (ProviderError, *TRANSPORT_ERRORS):
        return None
