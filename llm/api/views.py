"""Catalog (providers, models), routing configs and route preview. Thin: parse, call, render."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from llm.api import selectors
from llm.api.serializers import (
    LLMModelSerializer,
    ModelFilterSerializer,
    ProviderHealthSerializer,
    ProviderSerializer,
    RoutingConfigSerializer,
)
from llm.models import LLMModel, Provider, RoutingConfig
from llm.services import catalog_writes, routing_configs
from tenants.api.auth import CallerTenantContextMixin, TenantCrudViewSet, TenantViewSet

_IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description="The ETag you read; a stale one is a 409 conflict.",
)


def _created(serializer_data: dict, location: str) -> Response:
    return Response(serializer_data, status=status.HTTP_201_CREATED, headers={"Location": location})


def _changed(serializer):
    """The serializer's instance with the validated changes set on it, not yet saved: the
    catalog's write service validates and saves."""
    instance = serializer.instance
    for field, value in serializer.validated_data.items():
        setattr(instance, field, value)
    return instance


class ProviderViewSet(TenantCrudViewSet):
    """Upstream providers. Read for tenants; write for platform staff."""

    model = Provider
    serializer_class = ProviderSerializer
    platform_write_only = True
    lookup_field = "slug"
    lookup_value_regex = "[^/]+"

    def scoped_queryset(self):
        return selectors.provider_list(include_inactive=self.caller.is_platform_staff)

    def get_object(self):
        provider = selectors.provider_get(
            slug=self.kwargs["slug"], include_inactive=self.caller.is_platform_staff
        )
        if provider is None:
            raise Http404
        return provider

    def perform_create(self, serializer):
        serializer.instance = catalog_writes.provider_save(
            provider=Provider(**serializer.validated_data)
        )

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return _created(serializer.data, f"/api/v1/providers/{serializer.instance.slug}/")

    def perform_update(self, serializer):
        serializer.instance = catalog_writes.provider_save(provider=_changed(serializer))

    def perform_destroy(self, instance):
        catalog_writes.provider_delete(provider=instance)


class ProviderHealthViewSet(TenantViewSet):
    """Breaker state, error rate and median latency of each provider's platform key over the
    last five minutes, with the caller's own BYOK credentials (read scope)."""

    model = Provider
    serializer_class = ProviderHealthSerializer

    def scoped_queryset(self):
        return selectors.provider_list()

    @extend_schema(operation_id="providers_health_list")
    def list(self, request, *args, **kwargs):
        rows = selectors.provider_health_list(tenant=self.caller.tenant)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class LLMModelViewSet(TenantCrudViewSet):
    """The model catalog, prices in USD per 1M tokens as decimal strings."""

    model = LLMModel
    serializer_class = LLMModelSerializer
    platform_write_only = True
    lookup_field = "model_ref"

    def scoped_queryset(self):
        filters = ModelFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.llm_model_list(
            include_inactive=self.caller.is_platform_staff, **filters.validated_data
        )

    def get_object(self):
        model = selectors.llm_model_get(
            ref=self.kwargs["model_ref"], include_inactive=self.caller.is_platform_staff
        )
        if model is None:
            raise Http404
        return model

    @extend_schema(parameters=[ModelFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "model_ref", str, OpenApiParameter.PATH, description="`provider/model_id`"
            )
        ]
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = catalog_writes.llm_model_save(model=LLMModel(**serializer.validated_data))
        data = self.get_serializer(model).data
        return _created(data, f"/api/v1/models/{model.qualified_id}/")

    def perform_update(self, serializer):
        serializer.instance = catalog_writes.llm_model_save(model=_changed(serializer))

    def perform_destroy(self, instance):
        catalog_writes.llm_model_delete(model=instance)


class RoutingConfigViewSet(CallerTenantContextMixin, TenantCrudViewSet):
    """Routing configs. GET sends an ETag; PUT/PATCH honour If-Match (stale: 409 conflict)."""

    model = RoutingConfig
    serializer_class = RoutingConfigSerializer

    def scoped_queryset(self):
        return selectors.config_list(tenant=self.caller.tenant)

    def retrieve(self, request, *args, **kwargs):
        config = self.get_object()
        return Response(
            self.get_serializer(config).data, headers={"ETag": routing_configs.config_etag(config)}
        )

    def create(self, request, *args, **kwargs):
        tenant = self.caller.require_tenant()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("updated_at", None)
        config = routing_configs.routing_config_create(tenant=tenant, data=data)
        response = _created(self.get_serializer(config).data, f"/api/v1/configs/{config.pk}/")
        response["ETag"] = routing_configs.config_etag(config)
        return response

    @extend_schema(parameters=[_IF_MATCH])
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        self.caller.require_tenant()
        config = self.get_object()
        context = {**self.get_serializer_context(), "tenant": config.tenant}
        serializer = RoutingConfigSerializer(
            config, data=request.data, partial=partial, context=context
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        expected = data.pop("updated_at", None)
        config = routing_configs.routing_config_update(
            config=config,
            data=data,
            if_match=request.headers.get("If-Match"),
            expected_updated_at=expected,
        )
        return Response(
            RoutingConfigSerializer(config, context=context).data,
            headers={"ETag": routing_configs.config_etag(config)},
        )

    @extend_schema(parameters=[_IF_MATCH])
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance):
        self.caller.require_tenant()
        routing_configs.routing_config_delete(config=instance)
