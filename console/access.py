"""Who may see and change what in the admin web app: the admin's own rules (tenants/
admin_scoping.py), applied to pages that name their tenant in the URL.

Operators see every tenant; a member sees their tenants (viewers read, owners and admins
write); anyone else gets a 404 for every page of a tenant, as in the API, so a URL does not
even confirm that a tenant exists.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from tenants.admin_scoping import MANAGER_ROLES, is_operator, tenant_roles
from tenants.models import Tenant

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class ConsoleAccess:
    tenant: Tenant
    role: str | None  # the membership role; None for an operator without one
    operator: bool

    @property
    def can_write(self) -> bool:
        return self.operator or self.role in MANAGER_ROLES

    def require_write(self) -> None:
        if not self.can_write:
            raise PermissionDenied("Your role can read but not change this tenant.")


def tenant_access(request: HttpRequest, *, slug: str) -> ConsoleAccess:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404("Not found.")
    role = tenant_roles(request).get(tenant.pk)
    operator = is_operator(request)
    if role is None and not operator:
        raise Http404("Not found.")
    return ConsoleAccess(tenant=tenant, role=role, operator=operator)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged-in admin users only; others go to the admin login (and back)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


def tenant_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of one tenant (`slug` in the URL): staff only, 404 for outsiders; the view gets
    the resolved access instead of the slug."""

    @functools.wraps(view)
    @staff_required
    def wrapped(request: HttpRequest, slug: str, *args, **kwargs) -> HttpResponse:
        return view(request, tenant_access(request, slug=slug), *args, **kwargs)

    return wrapped


def visible_tenants(request: HttpRequest):
    """The tenants the user may open: all for operators, else their memberships'."""
    if is_operator(request):
        return Tenant.objects.order_by("slug")
    return Tenant.objects.filter(pk__in=list(tenant_roles(request))).order_by("slug")
