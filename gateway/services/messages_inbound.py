"""The Anthropic Messages API (`POST /v1/messages`): the chat pipeline behind an Anthropic edge.

The request is translated to the internal chat shape at the edge (llm.providers.
anthropic_inbound, the client's own request riding along for a native Anthropic call), served
by exactly the chat completion steps (chat_completions.serve_chat: routing, hints, budgets,
rate limits, fallbacks, cache, idempotency, metering), and its answer translated back here: a
JSON message, Anthropic's stream events, or an error in Anthropic's shape. The key comes in
`x-api-key` (the anthropic SDK's header) or `Authorization: Bearer`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson

from core.errors import InvalidRequest
from gateway.services.chat_completions import serve_chat, serve_request
from gateway.services.request_parsing import authenticate, parse_chat_body
from gateway.services.responses import GatewayResponse
from gateway.services.stream_translation import translated_stream
from llm.providers.anthropic_inbound import InboundError, messages_to_chat
from llm.providers.anthropic_outbound import (
    EventWriter,
    anthropic_error,
    completion_to_message,
)

if TYPE_CHECKING:
    from gateway.services.context import ChatRequest, RequestState


def messages_authorization(headers: Mapping[str, str]) -> str | None:
    """`Authorization` as the pipeline reads it: the header itself, else `x-api-key`."""
    authorization = headers.get("authorization")
    if authorization:
        return authorization
    key = headers.get("x-api-key")
    return f"Bearer {key}" if key else None


def parse_messages_body(raw: bytes, *, counting: bool = False) -> ChatRequest:
    """The Messages body as the chat pipeline's request (its checks run on the translation)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        chat = messages_to_chat(body, counting=counting)
    except InboundError as exc:
        raise InvalidRequest(exc.message, extra={"param": exc.param}) from None
    return parse_chat_body(orjson.dumps(chat))


async def messages_create(
    *,
    request_id: str,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    result = await serve_request(
        request_id=request_id,
        serve=functools.partial(
            _serve,
            authorization=messages_authorization(headers),
            raw_body=raw_body,
            headers=headers,
        ),
    )
    return anthropic_response(result, request_id=request_id)


async def _serve(
    state: RequestState,
    *,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    state.key = await authenticate(authorization=authorization)
    state.chat = parse_messages_body(raw_body)
    return await serve_chat(state, headers=headers)


def anthropic_response(result: GatewayResponse, *, request_id: str) -> GatewayResponse:
    """A chat pipeline answer (JSON, stream, replay, cache hit or error) in Anthropic's shape.
    The message id follows the request id the answer names (a replay names the first one)."""
    request_id = result.headers.get("X-Tollgate-Request-Id") or request_id
    headers = {**result.headers, "request-id": request_id}
    if result.stream is not None:
        return GatewayResponse(
            status=result.status,
            headers=headers,
            content_type="text/event-stream; charset=utf-8",
            stream=translated_stream(result.stream, writer=EventWriter(request_id=request_id)),
            abandon=result.abandon,
        )
    try:
        payload = orjson.loads(result.body)
    except orjson.JSONDecodeError:
        payload = {}
    if result.status >= 400 or "error" in payload:
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        code = error.get("code")
        body = anthropic_error(
            status=result.status,
            message=str(error.get("message") or "Request failed."),
            code=code if isinstance(code, str) else None,
        )
    else:
        body = completion_to_message(payload, request_id=request_id)
    return GatewayResponse(status=result.status, headers=headers, body=orjson.dumps(body))
