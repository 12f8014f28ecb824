"""The route preview endpoint: the gateway's decision for a request, without calling a provider."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from gateway.api.serializers import RoutePreviewRequestSerializer, RoutePreviewSerializer
from gateway.services.route_preview import route_preview
from tenants.api.auth import TenantAPIView
from tenants.models import TenantApiKey


class RoutePreviewView(TenantAPIView):
    """Dry run: which model would serve this chat request, and its estimated worst-case cost.
    It changes nothing, so the `read` scope and the viewer role may call it."""

    read_only_post = True

    @extend_schema(
        request=RoutePreviewRequestSerializer,
        responses={200: RoutePreviewSerializer},
        operation_id="route_preview",
    )
    def post(self, request):
        tenant = self.caller.require_tenant()
        RoutePreviewRequestSerializer(data=request.data).is_valid(raise_exception=True)
        key = request.auth if isinstance(request.auth, TenantApiKey) else None
        result = route_preview(
            tenant=tenant, body=request.data, headers=request.headers, api_key=key
        )
        return Response(result)
