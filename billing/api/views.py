"""Budgets, usage (aggregates and raw events) and billing exports."""

import json
import logging

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from billing.api.alert_serializers import (
    BudgetAlertPageSerializer,
    BudgetAlertSerializer,
    WebhookSecretSerializer,
)
from billing.api.serializers import (
    BudgetStatusQuerySerializer,
    BudgetWithStatusSerializer,
    ExportCreateSerializer,
    ExportSerializer,
    UsageAggregateSerializer,
    UsageEventSerializer,
    UsageFilterSerializer,
    UsageQuerySerializer,
)
from billing.models import BillingExport, Budget
from billing.selectors.budgets import budget_alert_list, budget_list
from billing.selectors.exports import export_list
from billing.selectors.usage_aggregates import usage_aggregate
from billing.selectors.usage_events import local_range, usage_event_list
from billing.selectors.usage_filters import UsageFilters
from billing.services import budget_writes
from billing.services.exports import export_create, export_generate, export_open
from core.errors import Conflict
from tenants.api.auth import (
    CallerTenantContextMixin,
    TenantAPIView,
    TenantCrudViewSet,
    TenantViewSet,
)
from tenants.webhook_secrets import webhook_secret_rotate

logger = logging.getLogger(__name__)


class BudgetViewSet(CallerTenantContextMixin, TenantCrudViewSet):
    """Daily or monthly cost/token limits for the tenant, a config or an API key."""

    model = Budget
    serializer_class = BudgetWithStatusSerializer

    def scoped_queryset(self):
        return budget_list(tenant=self.caller.tenant)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self, "request", None) is not None and self.request.method == "GET":
            query = BudgetStatusQuerySerializer(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            context["status_end_user"] = query.validated_data.get("user") or None
        return context

    def create(self, request, *args, **kwargs):
        tenant = self.caller.require_tenant()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        budget = budget_writes.budget_create(tenant=tenant, data=serializer.validated_data)
        return Response(
            self.get_serializer(budget).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/budgets/{budget.pk}/"},
        )

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        self.caller.require_tenant()
        budget = self.get_object()
        serializer = self.get_serializer(budget, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        budget = budget_writes.budget_update(budget=budget, data=serializer.validated_data)
        return Response(self.get_serializer(budget).data)

    def perform_destroy(self, instance):
        self.caller.require_tenant()
        budget_writes.budget_delete(budget=instance)

    @extend_schema(request=None, responses={200: BudgetAlertPageSerializer})
    @action(detail=True, methods=["get"])
    def alerts(self, request, pk=None):
        """The budget's alert deliveries, newest first (paginated)."""
        alerts = budget_alert_list(budget=self.get_object())
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(alerts, request, view=self)
        return paginator.get_paginated_response(BudgetAlertSerializer(page, many=True).data)


class WebhookSecretRotateView(TenantAPIView):
    """Create or replace the tenant's alert-webhook signing secret; the new secret is in this
    answer only (README "Signed alert webhooks"). The old one stops signing at once."""

    @extend_schema(request=None, responses={201: WebhookSecretSerializer})
    def post(self, request):
        tenant = self.caller.require_tenant()
        secret = webhook_secret_rotate(tenant=tenant)
        body = {"secret": secret, "header": "X-Tollgate-Signature", "rotated_at": timezone.now()}
        return Response(WebhookSecretSerializer(body).data, status=status.HTTP_201_CREATED)


def _date_range(tenant, query: dict):
    """Local days [start, end]; defaults: end today (or start, if later), start the 1st of
    end's month."""
    today = timezone.localtime(timezone.now(), tenant.tzinfo).date()
    start = query.get("start")
    end = query.get("end") or max(today, start or today)
    return start or end.replace(day=1), end


def _filters(query: dict) -> UsageFilters:
    return UsageFilters(
        model=query.get("model"),
        provider=query.get("provider"),
        tag=query.get("tag"),
        status=query.get("status"),
        config_id=query.get("config"),
        api_key_id=query.get("key"),
        end_user=query.get("user"),
    )


class UsageView(TenantAPIView):
    """Usage aggregates between two local days (default: this month so far), grouped by
    day, month, model, provider, config, key, tag or user (end user); costs are exact
    decimal strings."""

    @extend_schema(parameters=[UsageQuerySerializer], responses={200: UsageAggregateSerializer})
    def get(self, request):
        tenant = self.caller.require_tenant()
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = _date_range(tenant, query.validated_data)
        group_by = query.validated_data["group_by"]
        data = usage_aggregate(
            tenant=tenant,
            start=start,
            end=end,
            group_by=group_by,
            filters=_filters(query.validated_data),
        )
        body = {
            "start": start,
            "end": end,
            "group_by": group_by,
            "timezone": tenant.timezone,
            **data,
        }
        return Response(UsageAggregateSerializer(body).data)


class UsageEventListView(TenantAPIView):
    """Raw usage events, newest first, paginated."""

    pagination_class = TenantAPIView.pagination_class

    @extend_schema(
        parameters=[UsageFilterSerializer], responses={200: UsageEventSerializer(many=True)}
    )
    def get(self, request):
        tenant = self.caller.require_tenant()
        query = UsageFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start_at = end_at = None
        if "start" in query.validated_data or "end" in query.validated_data:
            start, end = _date_range(tenant, query.validated_data)
            start_at, end_at = local_range(tenant=tenant, start=start, end=end)
        events = usage_event_list(
            tenant=tenant, start=start_at, end=end_at, filters=_filters(query.validated_data)
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(UsageEventSerializer(page, many=True).data)


class CSVRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/csv` through; the download itself is a streamed FileResponse."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return json.dumps(data).encode()


class ExportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, TenantViewSet
):
    """Monthly billing exports (CSV). Create makes a new version; a file never changes."""

    model = BillingExport
    serializer_class = ExportSerializer

    def scoped_queryset(self):
        return export_list(tenant=self.caller.tenant)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and isinstance(
            getattr(response, "accepted_renderer", None), CSVRenderer
        ):
            # Errors are JSON even when the client asked for the CSV.
            response.accepted_renderer = renderers.JSONRenderer()
            response.accepted_media_type = "application/json"
        return response

    @extend_schema(request=ExportCreateSerializer, responses={201: ExportSerializer})
    def create(self, request, *args, **kwargs):
        ctx = self.caller
        serializer = ExportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Platform staff without a tenant export every tenant into one file.
        export = export_create(
            tenant=ctx.tenant,
            month=serializer.validated_data["month"],
            user=ctx.user,
            generate=False,
        )
        try:
            export_generate(export_id=export.pk)
        except Exception:
            logger.exception("Billing export %s failed", export.pk)
        export.refresh_from_db()
        return Response(
            ExportSerializer(export).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/exports/{export.pk}/"},
        )

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The export's CSV, streamed."
            )
        }
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[renderers.JSONRenderer, CSVRenderer],
    )
    def download(self, request, pk=None):
        export = self.get_object()
        if export.status != BillingExport.Status.READY:
            raise Conflict(f"The export is {export.status}, not ready.")
        owner = export.tenant.slug if export.tenant_id else "all"
        return FileResponse(
            export_open(export=export),
            as_attachment=True,
            filename=f"tollgate-{owner}-{export.month}-v{export.version}.csv",
            content_type="text/csv",
        )
