"""The entry points: a page without a tenant goes to the user's only tenant, or lists them."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from console.access import staff_required, visible_tenants
from console.rendering import render_page

TENANT_PAGES = {
    "dashboard": "console:dashboard",
    "usage": "console:usage",
    "budgets": "console:budgets",
    "configs": "console:configs",
    "audit": "console:audit",
    "exports": "console:exports",
    "keys": "console:keys",
    "credentials": "console:credentials",
    "members": "console:members",
}


@staff_required
def pick_tenant(request: HttpRequest, page: str = "dashboard") -> HttpResponse:
    """One tenant: straight to its page; several (or an operator): choose."""
    if page not in TENANT_PAGES:
        page = "dashboard"
    tenants = list(visible_tenants(request))
    if len(tenants) == 1 and not request.user.is_superuser:
        return redirect(TENANT_PAGES[page], slug=tenants[0].slug)
    links = [(t, reverse(TENANT_PAGES[page], kwargs={"slug": t.slug})) for t in tenants]
    return render_page(request, "console/pick_tenant.html", title="Choose a tenant", links=links)
