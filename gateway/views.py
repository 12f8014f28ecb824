"""The tenant-facing gateway endpoints (/v1): async Django views, no DRF on the hot path.

Views only parse the HTTP request, call the gateway service and render its result.
"""

import asyncio

import orjson
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, InvalidRequest, NotFound
from gateway.services.chat_completions import chat_completion
from gateway.services.embeddings import embeddings_create
from gateway.services.messages_count import messages_count_tokens
from gateway.services.messages_inbound import messages_create
from gateway.services.models_list import models_list
from gateway.services.responses import GatewayResponse, error_response, new_request_id
from gateway.services.responses_api import responses_create


def _render(result: GatewayResponse):
    if result.stream is not None:
        response = StreamingHttpResponse(
            result.stream, status=result.status, content_type=result.content_type
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
    else:
        response = HttpResponse(result.body, status=result.status, content_type=result.content_type)
    for name, value in result.headers.items():
        response[name] = value
    return response


async def _post(request, use_case):
    request_id = new_request_id()
    limit = settings.TOLLGATE_MAX_BODY_BYTES
    raw = request.read(limit + 1)  # not request.body: images can exceed Django's form limit
    if len(raw) > limit:
        error = InvalidRequest(f"The request body exceeds {limit} bytes.")
        return _render(error_response(error, {"X-Tollgate-Request-Id": request_id}))
    result = await use_case(
        request_id=request_id,
        authorization=request.headers.get("Authorization"),
        raw_body=raw,
        headers={k.lower(): v for k, v in request.headers.items()},
    )
    return _render(result)


@csrf_exempt
@require_POST
async def chat_completions(request):
    return await _post(request, chat_completion)


@csrf_exempt
@require_POST
async def embeddings(request):
    return await _post(request, embeddings_create)


@csrf_exempt
@require_POST
async def messages(request):
    return await _post(request, messages_create)


@csrf_exempt
@require_POST
async def messages_count(request):
    return await _post(request, messages_count_tokens)


@csrf_exempt
@require_POST
async def responses(request):
    return await _post(request, responses_create)


@require_GET
async def models(request):
    request_id = new_request_id()
    try:
        data = await models_list(authorization=request.headers.get("Authorization"))
    except ApplicationError as exc:
        return _render(error_response(exc, {"X-Tollgate-Request-Id": request_id}))
    response = HttpResponse(orjson.dumps(data), content_type="application/json")
    response["X-Tollgate-Request-Id"] = request_id
    return response


# --- the same endpoints as a bare ASGI app --------------------------------------------------
#
# Django's handler costs several thread hops per request (MiddlewareMixin runs process_request /
# process_response through sync_to_async, a sync-only middleware adds more, request_started /
# request_finished receivers another). The gateway needs none of that: no session, no CSRF, no
# database. `v1_asgi` serves /v1 straight from the ASGI scope with the same service and the
# same responses; config/asgi.py can send /v1/ paths here and everything else to Django.


async def _read_body(receive, limit: int) -> bytes | None:
    """The request body, or None when it exceeds `limit` or the client went away."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _raw_headers(result: GatewayResponse) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", result.content_type.encode("latin1"))]
    if result.stream is not None:
        headers += [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
    else:
        headers.append((b"content-length", str(len(result.body)).encode()))
    headers += [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in result.headers.items()]
    return headers


async def _send_result(result: GatewayResponse, receive, send) -> None:
    await send(
        {"type": "http.response.start", "status": result.status, "headers": _raw_headers(result)}
    )
    stream = result.stream
    if stream is None:
        await send({"type": "http.response.body", "body": result.body})
        return

    async def pump() -> None:
        async for part in stream:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    sending = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({sending, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching):
            if not task.done():
                task.cancel()
        await asyncio.gather(sending, watching, return_exceptions=True)
        await stream.aclose()  # runs the stream's clean-up (billing continues)


# POST endpoints of /v1: path -> the use case serving it (same keyword arguments for all).
POST_USE_CASES = {
    "/v1/chat/completions": chat_completion,
    "/v1/embeddings": embeddings_create,
    "/v1/messages": messages_create,
    "/v1/messages/count_tokens": messages_count_tokens,
    "/v1/responses": responses_create,
}


async def _asgi_post(path: str, method: str, headers: dict, receive, request_id: str):
    if method != "POST":
        error = InvalidRequest(f"Use POST for {path}.")
        error.status = 405
        return error_response(error, {"X-Tollgate-Request-Id": request_id})
    limit = settings.TOLLGATE_MAX_BODY_BYTES
    raw = await _read_body(receive, limit)
    if raw is None:
        error = InvalidRequest(f"The request body exceeds {limit} bytes.")
        return error_response(error, {"X-Tollgate-Request-Id": request_id})
    return await POST_USE_CASES[path](
        request_id=request_id,
        authorization=headers.get("authorization"),
        raw_body=raw,
        headers=headers,
    )


async def v1_asgi(scope, receive, send) -> None:
    """The /v1 endpoints without Django's request/middleware machinery."""
    request_id = new_request_id()
    path, method = scope["path"], scope["method"]
    headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope["headers"]}
    if path.rstrip("/") in POST_USE_CASES:
        result = await _asgi_post(path.rstrip("/"), method, headers, receive, request_id)
    elif path in ("/v1/models", "/v1/models/") and method == "GET":
        try:
            data = await models_list(authorization=headers.get("authorization"))
            result = GatewayResponse(
                status=200, headers={"X-Tollgate-Request-Id": request_id}, body=orjson.dumps(data)
            )
        except ApplicationError as exc:
            result = error_response(exc, {"X-Tollgate-Request-Id": request_id})
    else:
        error = NotFound(f"No route {method} {path}.")
        result = error_response(error, {"X-Tollgate-Request-Id": request_id})
    await _send_result(result, receive, send)
