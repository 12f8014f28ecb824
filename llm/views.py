"""The tenant-facing gateway endpoints (/v1): async Django views, no DRF on the hot path.

Views only parse the HTTP request, call the gateway service and render its result.
"""

import orjson
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from config.errors import ApplicationError, InvalidRequest
from llm.services import gateway

_DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


def _render(result: gateway.GatewayResponse):
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


@csrf_exempt
@require_POST
async def chat_completions(request):
    request_id = gateway.new_request_id()
    limit = getattr(settings, "TOLLGATE_MAX_BODY_BYTES", _DEFAULT_MAX_BODY_BYTES)
    raw = request.read(limit + 1)  # not request.body: images can exceed Django's form limit
    if len(raw) > limit:
        error = InvalidRequest(f"The request body exceeds {limit} bytes.")
        return _render(gateway.error_response(error, {"X-Tollgate-Request-Id": request_id}))
    result = await gateway.chat_completion(
        request_id=request_id,
        authorization=request.headers.get("Authorization"),
        raw_body=raw,
        headers=request.headers,
    )
    return _render(result)


@require_GET
async def models(request):
    request_id = gateway.new_request_id()
    try:
        data = await gateway.models_list(authorization=request.headers.get("Authorization"))
    except ApplicationError as exc:
        return _render(gateway.error_response(exc, {"X-Tollgate-Request-Id": request_id}))
    response = HttpResponse(orjson.dumps(data), content_type="application/json")
    response["X-Tollgate-Request-Id"] = request_id
    return response
