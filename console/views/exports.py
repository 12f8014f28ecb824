"""Billing exports: the versions of each month, download, and (for admins) regenerate."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from billing.api.serializers import ExportCreateSerializer
from billing.models import BillingExport
from billing.selectors.exports import export_list
from billing.services.exports import export_create, export_open
from console.access import ConsoleAccess, tenant_page
from console.rendering import render_page


@tenant_page
def exports(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    return render_page(
        request,
        "console/exports.html",
        title="Billing exports",
        access=access,
        exports=export_list(tenant=access.tenant)[:100],
    )


@tenant_page
@require_POST
def export_regenerate(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    """A new version of a month's export (the old files stay as they are)."""
    access.require_write()
    form = ExportCreateSerializer(data={"month": request.POST.get("month", "")})
    if not form.is_valid():
        messages.error(request, f"month: {' '.join(str(m) for m in form.errors['month'])}")
        return redirect("console:exports", slug=access.tenant.slug)
    export = export_create(
        tenant=access.tenant, month=form.validated_data["month"], user=request.user
    )
    messages.success(request, f"Export {export.month} v{export.version}: {export.status}.")
    return redirect("console:exports", slug=access.tenant.slug)


@tenant_page
def export_download(request: HttpRequest, access: ConsoleAccess, export_id: int) -> HttpResponse:
    export = export_list(tenant=access.tenant).filter(pk=export_id).first()
    if export is None or export.status != BillingExport.Status.READY:
        raise Http404("Not found.")
    return FileResponse(
        export_open(export=export),
        as_attachment=True,
        filename=f"tollgate-{access.tenant.slug}-{export.month}-v{export.version}.csv",
        content_type="text/csv",
    )
