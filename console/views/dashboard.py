"""The tenant dashboard."""

from django.http import HttpRequest, HttpResponse

from console.access import ConsoleAccess, tenant_page
from console.rendering import render_page
from console.selectors.dashboard import tenant_dashboard


@tenant_page
def dashboard(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    data = tenant_dashboard(tenant=access.tenant)
    return render_page(
        request,
        "console/dashboard.html",
        title=f"Dashboard · {access.tenant.name}",
        access=access,
        d=data,
    )
