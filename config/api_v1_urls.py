"""Management REST API v1 (/api/v1/). Unknown paths under it answer a JSON 404."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def _not_found(request, *args, **kwargs):
    body = {
        "error": {"message": "Not found.", "type": "invalid_request_error", "code": "not_found"}
    }
    return JsonResponse(body, status=404)


urlpatterns = [
    path("", include("llm.api.urls")),
    path("", include("tenants.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("gateway.api.urls")),
    re_path(r"^[\s\S]*$", _not_found),
]
