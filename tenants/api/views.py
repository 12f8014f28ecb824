"""BYOK credentials and tenant API keys. Secrets go in, never come out (key secrets: once)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from tenants.api import selectors
from tenants.api.auth import TenantAPIView, TenantViewSet
from tenants.api.serializers import (
    ApiKeyAccessSerializer,
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    AuditEntrySerializer,
    CredentialCreateSerializer,
    CredentialSerializer,
    CredentialUpdateSerializer,
    TenantAccessSerializer,
)
from tenants.models import AuditEntry, ProviderCredential, TenantApiKey
from tenants.selectors import tenant_get
from tenants.services import (
    api_key_access_set,
    api_key_create,
    api_key_revoke,
    credential_delete,
    credential_set,
    credential_update,
    tenant_access_set,
)


def _acting_user(request):
    user = request.user
    return user if user is not None and user.is_authenticated else None


class CredentialViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet
):
    """BYOK provider keys, encrypted at rest. POST again for the same provider to rotate."""

    model = ProviderCredential
    serializer_class = CredentialSerializer

    def scoped_queryset(self):
        return selectors.credential_list(tenant=self.caller.tenant)

    @extend_schema(
        request=CredentialCreateSerializer,
        responses={201: CredentialSerializer, 200: CredentialSerializer},
    )
    def create(self, request):
        tenant = self.caller.require_tenant()
        serializer = CredentialCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rotated = selectors.credential_exists(tenant=tenant, provider_id=data["provider"].pk)
        credential = credential_set(
            tenant=tenant,
            provider=data["provider"],
            api_key=data["api_key"],
            base_url=data.get("base_url", ""),
            user=_acting_user(request),
        )
        return Response(
            CredentialSerializer(credential).data,
            status=status.HTTP_200_OK if rotated else status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/credentials/{credential.pk}/"},
        )

    @extend_schema(request=CredentialUpdateSerializer, responses={200: CredentialSerializer})
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(request=CredentialUpdateSerializer, responses={200: CredentialSerializer})
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool):
        self.caller.require_tenant()
        credential = self.get_object()
        serializer = CredentialUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        credential = credential_update(
            credential=credential,
            api_key=serializer.validated_data.get("api_key"),
            base_url=serializer.validated_data.get("base_url"),
            user=_acting_user(request),
        )
        return Response(CredentialSerializer(credential).data)

    def perform_destroy(self, instance):
        self.caller.require_tenant()
        credential_delete(credential=instance)


class ApiKeyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet
):
    """Tenant API keys. The secret is returned once, by create; DELETE revokes."""

    model = TenantApiKey
    serializer_class = ApiKeySerializer

    def scoped_queryset(self):
        return selectors.api_key_list(tenant=self.caller.tenant)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        tenant = self.caller.require_tenant()
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, secret = api_key_create(
            tenant=tenant, created_by=_acting_user(request), **serializer.validated_data
        )
        key.secret = secret
        response = Response(
            ApiKeyCreatedSerializer(key).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/keys/{key.pk}/"},
        )
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=ApiKeyAccessSerializer, responses={200: ApiKeySerializer})
    def partial_update(self, request, pk=None):
        """Restrict the key to models and / or routing configs (README "Model access")."""
        self.caller.require_tenant()
        serializer = ApiKeyAccessSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = api_key_access_set(key=self.get_object(), **serializer.validated_data)
        return Response(ApiKeySerializer(key).data)

    @extend_schema(summary="Revoke a key (same as POST .../revoke/)")
    def destroy(self, request, pk=None):
        self.caller.require_tenant()
        api_key_revoke(key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ApiKeySerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        self.caller.require_tenant()
        key = api_key_revoke(key=self.get_object())
        return Response(ApiKeySerializer(key).data)


class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Configuration changes (configs, credentials, keys, budgets, members, the tenant), newest
    first: the caller's tenant's, or every tenant's for platform staff."""

    model = AuditEntry
    serializer_class = AuditEntrySerializer

    def scoped_queryset(self):
        return selectors.audit_entry_list(tenant=self.caller.tenant)


class TenantAccessView(TenantAPIView):
    """A tenant's plan: which providers and models it may use. Platform staff only; to anyone
    else the resource does not exist (404)."""

    def _tenant(self, request, slug: str):
        tenant = tenant_get(slug=slug) if self.caller.is_platform_staff else None
        if tenant is None:
            raise NotFound("Not found.")
        return tenant

    @extend_schema(responses={200: TenantAccessSerializer}, operation_id="tenant_access_get")
    def get(self, request, slug: str):
        return Response(TenantAccessSerializer(self._tenant(request, slug)).data)

    @extend_schema(
        request=TenantAccessSerializer,
        responses={200: TenantAccessSerializer},
        operation_id="tenant_access_set",
    )
    def put(self, request, slug: str):
        tenant = self._tenant(request, slug)
        serializer = TenantAccessSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tenant = tenant_access_set(tenant=tenant, **serializer.validated_data)
        return Response(TenantAccessSerializer(tenant).data)
