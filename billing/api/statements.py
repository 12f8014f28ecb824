"""Monthly statements and credit notes: tenants read theirs; platform staff finalize and credit."""

import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from billing.api.statement_serializers import (
    CreditNoteCreateSerializer,
    CreditNoteSerializer,
    StatementDocumentSerializer,
    StatementDownloadQuerySerializer,
    StatementQuerySerializer,
    StatementSerializer,
)
from billing.models import CreditNote, Statement
from billing.selectors.statements import credit_note_list, statement_list
from billing.services.credit_notes import credit_note_issue
from billing.services.statement_documents import (
    statement_csv,
    statement_document,
    statement_pdf,
)
from billing.services.statements import statement_finalize
from core.errors import NotFound, PermissionDenied
from tenants.api.auth import TenantViewSet

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}


class QueryFormatNegotiation(DefaultContentNegotiation):
    """`?format=` names the file here, not a renderer: errors stay JSON, whatever it says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _require_staff(caller, what: str) -> None:
    if not caller.is_platform_staff:
        raise PermissionDenied(f"Only platform staff can {what}.")


class StatementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """A tenant-month's billing period and its statement (open, closing, finalized)."""

    model = Statement
    serializer_class = StatementSerializer

    def scoped_queryset(self):
        return statement_list(tenant=self.caller.tenant)

    @extend_schema(parameters=[StatementQuerySerializer])
    def list(self, request, *args, **kwargs):
        query = StatementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        statements = statement_list(tenant=self.caller.tenant, **query.validated_data)
        page = self.paginate_queryset(statements)
        return self.get_paginated_response(StatementSerializer(page, many=True).data)

    @extend_schema(responses={200: StatementDocumentSerializer})
    def retrieve(self, request, *args, **kwargs):
        """The statement document; an open or closing one is a live draft."""
        return Response(statement_document(statement=self.get_object()))

    @extend_schema(
        parameters=[StatementDownloadQuerySerializer],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The lines, CSV"),
            (200, "application/json"): StatementDocumentSerializer,
        },
    )
    @action(detail=True, methods=["get"], content_negotiation_class=QueryFormatNegotiation)
    def download(self, request, pk=None):
        query = StatementDownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        kind = query.validated_data["format"]
        statement = self.get_object()
        document = statement_document(statement=statement)
        if kind == "pdf":
            body = statement_pdf(document=document)
        elif kind == "csv":
            body = statement_csv(document=document)
        else:
            body = json.dumps(document, indent=2).encode()
        name = statement.number or f"{statement.tenant.slug}-{statement.month}-draft"
        response = HttpResponse(body, content_type=CONTENT_TYPES[kind])
        response["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
        return response

    @extend_schema(request=None, responses={200: StatementDocumentSerializer})
    @action(detail=True, methods=["post"])
    def finalize(self, request, pk=None):
        """Finalize now (staff only; the month must have ended). Idempotent."""
        statement = self.get_object()  # another tenant's: 404 before anything else
        _require_staff(self.caller, "finalize statements")
        statement = statement_finalize(statement_id=statement.pk, user=self.caller.user)
        return Response(statement_document(statement=statement))


class CreditNoteViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, TenantViewSet
):
    """Credit notes against finalized statements; only platform staff issue them."""

    model = CreditNote
    serializer_class = CreditNoteSerializer

    def scoped_queryset(self):
        return credit_note_list(tenant=self.caller.tenant)

    @extend_schema(request=CreditNoteCreateSerializer, responses={201: CreditNoteSerializer})
    def create(self, request, *args, **kwargs):
        _require_staff(self.caller, "issue credit notes")
        data = CreditNoteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        statement = statement_list(tenant=self.caller.tenant).filter(pk=values["statement"]).first()
        if statement is None:
            raise NotFound("No such statement.")
        note = credit_note_issue(
            statement_id=statement.pk,
            reason=values["reason"],
            amount=values.get("amount"),
            lines=[dict(line) for line in values.get("lines") or []] or None,
            user=self.caller.user,
        )
        return Response(
            CreditNoteSerializer(credit_note_list(tenant=None).get(pk=note.pk)).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/credit-notes/{note.pk}/"},
        )
