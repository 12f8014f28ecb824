"""The audit log of one tenant: every configuration change, newest first."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from console.access import ConsoleAccess, tenant_page
from console.rendering import render_page
from tenants.api.selectors import audit_entry_list

PAGE_SIZE = 50


@tenant_page
def audit(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    entries = audit_entry_list(tenant=access.tenant)
    object_type = request.GET.get("object_type", "")
    if object_type:
        entries = entries.filter(object_type=object_type)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "console/audit.html",
        title="Audit log",
        access=access,
        page=page,
        object_type=object_type,
        object_types=["tenant", "membership", "api_key", "credential", "routing_config", "budget"],
    )
