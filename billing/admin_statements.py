"""Admin for statements and credit notes: records the system issues, read-only for everyone,
scoped per tenant. Operators finalize from the list (an action) and issue credit notes (the add
page calls the service, for an amount or for lines); everyone who may see a statement downloads
it as JSON, CSV or PDF from its page."""

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
from billing.selectors.statements import statement_lines_creditable
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
    """An amount, or lines of the chosen statement: a ticked line without an amount credits
    all that is left on it. The service caps both and names the field it refuses."""

    statement = forms.ModelChoiceField(
        queryset=Statement.objects.filter(status=Statement.Status.FINALIZED).select_related(
            "tenant"
        )
    )
    reason = forms.CharField(max_length=500)
    amount = forms.DecimalField(
        max_digits=18,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="Or credit lines of the statement below.",
    )

    def __init__(self, *args, lines: list[tuple[StatementLine, Decimal]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.line_rows = []
        for line, remaining in lines:
            pick, amount = f"line_{line.pk}", f"line_{line.pk}_amount"
            self.fields[pick] = forms.BooleanField(
                required=False, label=f"{line.position}. {line.description}"
            )
            self.fields[amount] = forms.DecimalField(
                max_digits=18,
                decimal_places=2,
                min_value=Decimal("0.01"),
                required=False,
                label=f"Amount for line {line.position}",
            )
            self.line_rows.append((line, self[pick], self[amount], remaining))

    def line_credits(self) -> tuple[list[dict], list[str]]:
        """The picked lines as the service takes them, and each one's amount field name."""
        credits, fields = [], []
        for line, pick, amount, _remaining in self.line_rows:
            value = self.cleaned_data.get(amount.name)
            if self.cleaned_data.get(pick.name) or value is not None:
                credits.append({"line": line.pk, "amount": value})
                fields.append(amount.name)
        return credits, fields

    def add_service_error(self, exc: ApplicationError, line_fields: list[str]) -> None:
        """Put the service's refusal on the field its `param` names (lines[n] -> line n's)."""
        param = str(exc.extra.get("param", ""))
        field = param if param in ("statement", "reason", "amount") else None
        if param.startswith("lines["):
            index = int(param[len("lines[") :].split("]", 1)[0])
            field = line_fields[index] if index < len(line_fields) else None
        self.add_error(field, exc.message)


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
        """Operators issue a credit note for an amount or for lines of the statement (the
        lines appear once a statement is chosen), through the service the API uses."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        statement = self._chosen_statement(request)
        lines = statement_lines_creditable(statement=statement) if statement else []
        issuing = request.method == "POST" and "_show_lines" not in request.POST
        initial = {"statement": statement, "reason": request.POST.get("reason", "")}
        form = CreditNoteIssueForm(request.POST if issuing else None, lines=lines, initial=initial)
        if issuing and form.is_valid():
            credits, line_fields = form.line_credits()
            try:
                note = credit_note_issue(
                    statement_id=form.cleaned_data["statement"].pk,
                    reason=form.cleaned_data["reason"],
                    amount=form.cleaned_data["amount"],
                    lines=credits or None,
                    user=request.user,
                )
            except ApplicationError as exc:
                form.add_service_error(exc, line_fields)
            else:
                self.message_user(request, f"Credit note {note.number} issued.")
                return redirect(reverse("admin:billing_creditnote_change", args=[note.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "statement": statement,
            "title": "Issue a credit note",
        }
        return TemplateResponse(request, "admin/billing/creditnote/issue.html", context)

    @staticmethod
    def _chosen_statement(request) -> Statement | None:
        chosen = (request.POST or request.GET).get("statement", "")
        if not chosen.isdigit():
            return None
        queryset = CreditNoteIssueForm.base_fields["statement"].queryset
        return queryset.filter(pk=int(chosen)).first()
