"""Admin for statements and credit notes: records the system issues, read-only for everyone,
scoped per tenant. Operators finalize from the list (an action) and issue credit notes (the add
page calls the service); everyone who may see a statement downloads it as JSON, CSV or PDF from
its page."""

import json
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin, TabularInline

from billing.models import CreditNote, CreditNoteLine, Statement, StatementLine
from billing.services.credit_notes import credit_note_issue
from billing.services.statement_documents import (
    statement_csv,
    statement_document,
    statement_pdf,
)
from billing.services.statements import statement_finalize
from core.errors import ApplicationError
from tenants.admin_scoping import ScopedRelatedFilter, TenantScopedAdminMixin, is_operator

FORMATS = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}


class _ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class StatementLineInline(_ReadOnlyInline):
    model = StatementLine
    fields = [
        "position",
        "description",
        "adjusts_month",
        "quantity",
        "unit_price",
        "unit",
        "cost_usd",
        "amount_full",
        "amount",
    ]
    readonly_fields = fields


@admin.register(Statement)
class StatementAdmin(TenantScopedAdminMixin, ModelAdmin):
    read_only = True
    list_display = ["month", "tenant", "status", "number", "total", "issued_at"]
    list_filter = ["status", ("tenant", ScopedRelatedFilter), "month"]
    list_select_related = ["tenant"]
    search_fields = ["number", "month"]
    readonly_fields = ["downloads"]
    exclude = ["finalized_by"]
    inlines = [StatementLineInline]
    actions = ["finalize"]

    def get_actions(self, request):
        return super().get_actions(request) if is_operator(request) else {}

    @admin.action(description="Finalize the selected statements (months that have ended)")
    def finalize(self, request, queryset):
        for statement in queryset:
            try:
                statement_finalize(statement_id=statement.pk, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{statement}: {exc.message}", messages.ERROR)

    @admin.display(description="Download")
    def downloads(self, obj):
        if obj.pk is None:
            return "-"
        links = (
            (reverse("admin:billing_statement_download", args=[obj.pk, kind]), kind.upper())
            for kind in FORMATS
        )
        return format_html_join(" · ", '<a href="{}">{}</a>', links) or format_html("-")

    def get_urls(self):
        download = path(
            "<int:object_id>/download/<str:kind>/",
            self.admin_site.admin_view(self.download_view),
            name="billing_statement_download",
        )
        return [download, *super().get_urls()]

    def download_view(self, request, object_id: int, kind: str):
        statement = self.get_queryset(request).filter(pk=object_id).first()
        if statement is None or kind not in FORMATS:
            raise Http404
        document = statement_document(statement=statement)
        writer = {"pdf": statement_pdf, "csv": statement_csv}.get(kind)
        if writer is not None:
            body = writer(document=document)
        else:
            body = json.dumps(document, indent=2).encode()
        response = HttpResponse(body, content_type=FORMATS[kind])
        name = statement.number or f"{statement.tenant.slug}-{statement.month}-draft"
        response["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
        return response


class CreditNoteLineInline(_ReadOnlyInline):
    model = CreditNoteLine
    fields = ["statement_line", "description", "amount"]
    readonly_fields = fields


class CreditNoteIssueForm(forms.Form):
    statement = forms.ModelChoiceField(
        queryset=Statement.objects.filter(status=Statement.Status.FINALIZED).select_related(
            "tenant"
        )
    )
    reason = forms.CharField(max_length=500)
    amount = forms.DecimalField(max_digits=18, decimal_places=2, min_value=Decimal("0.01"))


@admin.register(CreditNote)
class CreditNoteAdmin(TenantScopedAdminMixin, ModelAdmin):
    read_only = True
    list_display = ["number", "tenant", "statement", "total", "reason", "issued_at"]
    list_filter = [("tenant", ScopedRelatedFilter)]
    list_select_related = ["tenant", "statement"]
    search_fields = ["number", "reason"]
    exclude = ["created_by"]
    inlines = [CreditNoteLineInline]

    def get_actions(self, request):
        return {}

    def has_add_permission(self, request, *args):
        return is_operator(request)

    def add_view(self, request, form_url="", extra_context=None):
        """Operators issue a credit note for an amount (the API also credits single lines)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CreditNoteIssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                note = credit_note_issue(
                    statement_id=form.cleaned_data["statement"].pk,
                    reason=form.cleaned_data["reason"],
                    amount=form.cleaned_data["amount"],
                    user=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Credit note {note.number} issued.")
                return redirect(reverse("admin:billing_creditnote_change", args=[note.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Issue a credit note",
        }
        return TemplateResponse(request, "admin/billing/creditnote/issue.html", context)
