"""Authentication, tenant resolution and permissions for the management API (/api/v1/).

Two ways in:
- a tenant API key, `Authorization: Bearer tg_...`: the key's tenant; scope `read` for safe
  methods, `manage` for writes (an inference-only key gets 403);
- a session (admin UI users): a user with one membership acts for that tenant, a user with
  several names one with `X-Tollgate-Tenant: slug`; viewers read, owners and admins write.
  Platform staff (superusers) read every tenant's objects and name a tenant for writes.

The tenant always comes from here, never from a request body. Settings stay untouched: the views
use `TenantAPIView` / `TenantViewSet`, which carry these classes and the error handler.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes
from rest_framework import exceptions, mixins, pagination, permissions, viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from core.api_errors import api_exception_handler
from core.errors import InvalidRequest
from tenants.api.selectors import memberships_for_user
from tenants.models import Tenant, TenantApiKey
from tenants.selectors import tenant_get
from tenants.services import API_KEY_INVALID_MESSAGE, api_key_authenticate

TENANT_HEADER = "X-Tollgate-Tenant"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TenantApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer tg_...`, the only place a key is read (never a query parameter or
    a body field). A present but malformed, unknown, revoked or expired key is a 401 with the
    same words as a missing one; a value that cannot be a key costs no query. Another scheme
    (`Basic`, e.g. from a proxy in front) is left to the session."""

    keyword = "bearer"

    def authenticate(self, request: Request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        key = api_key_authenticate(secret=parts[1]) if len(parts) == 2 else None
        if key is None:
            raise exceptions.AuthenticationFailed(API_KEY_INVALID_MESSAGE)
        return AnonymousUser(), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="tollgate"'


class TenantApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = TenantApiKeyAuthentication
    name = "tenantApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant API key (`tg_...`) with scope `read` and/or `manage`.",
        }


class TenantRequired(exceptions.APIException):
    """A DRF exception (so OPTIONS metadata can catch it like the other permission errors)."""

    status_code = 400
    default_code = "invalid_request"


@dataclass(frozen=True)
class CallerContext:
    """Who is calling and for which tenant. `tenant` is None only for platform staff that named
    no tenant: they read every tenant's objects and cannot create tenant-owned ones."""

    tenant: Tenant | None
    can_write: bool
    is_platform_staff: bool = False
    user: AbstractBaseUser | None = None
    api_key: TenantApiKey | None = None

    def require_tenant(self) -> Tenant:
        if self.tenant is None:
            raise InvalidRequest(
                f"Platform staff must name a tenant with the {TENANT_HEADER} header."
            )
        return self.tenant


def is_read(request: Request, view: APIView | None) -> bool:
    return request.method in SAFE_METHODS or bool(getattr(view, "read_only_post", False))


def _context_for_key(request: Request, view: APIView | None, key: TenantApiKey) -> CallerContext:
    scopes = set(key.scopes or [])
    needed = "read" if is_read(request, view) else "manage"
    if needed not in scopes:
        raise exceptions.PermissionDenied(f"This API key lacks the '{needed}' scope.")
    return CallerContext(
        tenant=key.tenant, can_write=TenantApiKey.Scope.MANAGE in scopes, api_key=key
    )


def _context_for_user(request: Request, user: AbstractBaseUser) -> CallerContext:
    slug = request.headers.get(TENANT_HEADER, "").strip()
    unknown = f"Unknown tenant {slug[:64]!r}."
    if user.is_superuser:
        tenant = None
        if slug:
            tenant = tenant_get(slug=slug)
            if tenant is None:
                raise exceptions.NotFound(unknown)
        return CallerContext(tenant=tenant, can_write=True, is_platform_staff=True, user=user)
    found = memberships_for_user(user=user, tenant_slug=slug)
    if not found:
        if slug:
            raise exceptions.NotFound(unknown)
        raise exceptions.PermissionDenied("You are not a member of any tenant.")
    if len(found) > 1:
        raise TenantRequired(
            f"You belong to several tenants: name one with the {TENANT_HEADER} header."
        )
    membership = found[0]
    if membership.tenant.status != Tenant.Status.ACTIVE:
        raise exceptions.PermissionDenied("This tenant is suspended.")
    return CallerContext(tenant=membership.tenant, can_write=membership.can_manage, user=user)


def caller_context(request: Request, view: APIView | None = None) -> CallerContext:
    if isinstance(request.auth, TenantApiKey):
        return _context_for_key(request, view, request.auth)
    user = request.user
    if user is None or not user.is_authenticated:
        raise exceptions.NotAuthenticated(API_KEY_INVALID_MESSAGE)
    return _context_for_user(request, user)


class TenantAccess(permissions.BasePermission):
    """Resolves the caller's tenant onto `request.caller` and enforces write rights.

    A view with `platform_write_only = True` (the catalog) lets only platform staff write.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        ctx = caller_context(request, view)
        request.caller = ctx
        if is_read(request, view):
            return True
        if getattr(view, "platform_write_only", False):
            if not ctx.is_platform_staff:
                raise exceptions.PermissionDenied("Only platform staff can change the catalog.")
            return True
        if not ctx.can_write:
            raise exceptions.PermissionDenied("Your role can read but not change this tenant.")
        return True


class PagePagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["message", "type", "code"],
        }
    },
    "required": ["error"],
}


class TollgateAutoSchema(AutoSchema):
    """Documents the tenant header and the error responses every operation can give."""

    def get_override_parameters(self):
        params = super().get_override_parameters()
        return [
            *params,
            OpenApiParameter(
                TENANT_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="Tenant slug, for session users with several tenants and for "
                "platform staff. Ignored for API keys.",
            ),
        ]

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        }
        statuses = {
            "400": "Invalid request",
            "401": "Missing or invalid credentials",
            "403": "Not allowed (scope or role)",
            "404": "Not found (or another tenant's)",
            "405": "Method not allowed",
            "406": "Not acceptable",
            "409": "Conflict",
            "415": "Unsupported media type",
        }
        for status, description in statuses.items():
            responses.setdefault(status, {"description": description, **error})
        return responses

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            self.registry.register_on_missing(
                ResolvedComponent(
                    name="Error", type=ResolvedComponent.SCHEMA, schema=ERROR_SCHEMA, object="Error"
                )
            )
        return operation


class _TenantViewMixin:
    authentication_classes = [TenantApiKeyAuthentication, SessionAuthentication]
    permission_classes = [TenantAccess]
    pagination_class = PagePagination
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    schema = TollgateAutoSchema()
    platform_write_only = False
    lookup_value_regex = "[0-9]+"
    model = None  # the listed model, for the schema generator (it has no caller)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False) and self.model is not None:
            return self.model.objects.none()
        return self.scoped_queryset()

    def scoped_queryset(self):
        raise NotImplementedError

    def get_exception_handler(self):
        return api_exception_handler

    @property
    def caller(self) -> CallerContext:
        return self.request.caller


class TenantAPIView(_TenantViewMixin, APIView):
    pass


class TenantViewSet(_TenantViewMixin, viewsets.GenericViewSet):
    pass


class TenantCrudViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    """List, retrieve, create, update and delete; the views override what their service does."""


class CallerTenantContextMixin:
    """Puts the caller's tenant into the serializer context, for serializers that check
    references (configs, keys) against it. Absent before TenantAccess ran (the schema)."""

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if hasattr(self.request, "caller"):
            context["tenant"] = self.caller.tenant
        return context
