"""The OpenAI Responses API (`POST /v1/responses`): the chat pipeline behind a Responses edge.

The request is translated to the internal chat shape at the edge (llm.providers.
responses_inbound, the client's own request riding along for a native OpenAI call), served by
exactly the chat completion steps (chat_completions.serve_chat: routing, hints, budgets, rate
limits, fallbacks, cache, idempotency, end user, model access, metering), and its answer turned
back here into a `response` object or the Responses stream events. Errors keep OpenAI's shape
(the pipeline's own); a feature only a native model serves is refused for a translated one
(gateway.services.upstream_body: 400 unsupported_feature naming it).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from core.errors import InvalidRequest
from gateway.services.chat_completions import serve_chat, serve_request
from gateway.services.request_parsing import authenticate, parse_chat_body
from gateway.services.responses import GatewayResponse
from gateway.services.stream_translation import translated_stream
from llm.providers.responses_events import ResponsesEventWriter
from llm.providers.responses_inbound import InboundError, responses_to_chat
from llm.providers.responses_outbound import completion_to_response

if TYPE_CHECKING:
    from gateway.services.context import ChatRequest, RequestState


def _body_of(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def parse_responses_body(body: Mapping[str, Any]) -> ChatRequest:
    """The Responses body as the chat pipeline's request (its checks run on the translation)."""
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise InvalidRequest("'stream' must be true or false.", extra={"param": "stream"})
    try:
        chat = responses_to_chat(body)
    except InboundError as exc:
        raise InvalidRequest(exc.message, extra={"param": exc.param}) from None
    return parse_chat_body(orjson.dumps(chat))


async def responses_create(
    *,
    request_id: str,
    authorization: str | None,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> GatewayResponse:
    """Serve one Responses request; the body is read once, here, as the answer echoes parts of
    it (a malformed one is refused after the key is checked, as on every path)."""
    try:
        body: dict[str, Any] | InvalidRequest = _body_of(raw_body)
    except InvalidRequest as exc:
        body = exc
    result = await serve_request(
        request_id=request_id,
        serve=functools.partial(_serve, authorization=authorization, body=body, headers=headers),
    )
    request = body if isinstance(body, dict) else {}
    return responses_answer(result, request_id=request_id, request=request)


async def _serve(
    state: RequestState,
    *,
    authorization: str | None,
    body: dict[str, Any] | InvalidRequest,
    headers: Mapping[str, str],
) -> GatewayResponse:
    state.key = await authenticate(authorization=authorization)
    if isinstance(body, InvalidRequest):
        raise body
    state.chat = parse_responses_body(body)
    return await serve_chat(state, headers=headers)


def responses_answer(
    result: GatewayResponse, *, request_id: str, request: Mapping[str, Any]
) -> GatewayResponse:
    """A chat pipeline answer (JSON, stream, replay or cache hit) in the Responses shape; an
    error is already in OpenAI's shape and passes as it is. The response id follows the request
    id the answer names (a replay names the first one)."""
    request_id = result.headers.get("X-Tollgate-Request-Id") or request_id
    if result.stream is not None:
        return GatewayResponse(
            status=result.status,
            headers=result.headers,
            content_type="text/event-stream; charset=utf-8",
            stream=translated_stream(
                result.stream,
                writer=ResponsesEventWriter(request_id=request_id, request=request),
            ),
            abandon=result.abandon,
        )
    if result.status >= 400:
        return result
    try:
        payload = orjson.loads(result.body)
    except orjson.JSONDecodeError:
        return result
    if not isinstance(payload, dict) or "error" in payload:
        return result
    body = completion_to_response(payload, request_id=request_id, request=request)
    return GatewayResponse(status=result.status, headers=result.headers, body=orjson.dumps(body))
