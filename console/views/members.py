"""Members and roles: the list, add an existing user (by username or e-mail), change a role,
remove. Only an owner touches the owner role and a tenant keeps at least one owner
(tenants.services, the admin's own rules); the audit trail records every change."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.access import ConsoleAccess, tenant_page
from console.form_errors import error_fields
from console.rendering import render_page
from core.errors import InvalidRequest
from tenants.models import Membership
from tenants.selectors import membership_list
from tenants.services import member_add, member_remove, member_role_change


def _actor_role(access: ConsoleAccess) -> str | None:
    """Operators act with an owner's rights in every tenant."""
    return Membership.Role.OWNER if access.operator else access.role


def _membership_or_404(access: ConsoleAccess, membership_id: int) -> Membership:
    membership = membership_list(tenant=access.tenant).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("Not found.")
    return membership


def _page(request, access, *, errors=None, form=None, status=200):
    return render_page(
        request,
        "console/members.html",
        title="Members",
        access=access,
        members=membership_list(tenant=access.tenant).order_by("user__username"),
        roles=Membership.Role.values,
        errors=errors or {},
        form=form or {},
        status=status,
    )


@tenant_page
def members(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    """GET lists; POST adds an existing user."""
    if request.method != "POST":
        return _page(request, access)
    access.require_write()
    try:
        membership = member_add(
            tenant=access.tenant,
            login=request.POST.get("login", ""),
            role=request.POST.get("role", ""),
            actor_role=_actor_role(access),
        )
    except InvalidRequest as exc:
        return _page(request, access, errors=error_fields(exc), form=request.POST, status=400)
    messages.success(request, f"{membership.user.get_username()} added as {membership.role}.")
    return redirect("console:members", slug=access.tenant.slug)


@tenant_page
@require_POST
def member_role(request: HttpRequest, access: ConsoleAccess, membership_id: int) -> HttpResponse:
    access.require_write()
    membership = _membership_or_404(access, membership_id)
    try:
        membership = member_role_change(
            membership=membership,
            role=request.POST.get("role", ""),
            actor_role=_actor_role(access),
        )
    except InvalidRequest as exc:
        messages.error(request, f"{membership.user.get_username()}: {exc.message}")
    else:
        messages.success(request, f"{membership.user.get_username()} is now {membership.role}.")
    return redirect("console:members", slug=access.tenant.slug)


@tenant_page
@require_POST
def member_delete(request: HttpRequest, access: ConsoleAccess, membership_id: int) -> HttpResponse:
    access.require_write()
    membership = _membership_or_404(access, membership_id)
    name = membership.user.get_username()
    try:
        member_remove(membership=membership, actor_role=_actor_role(access))
    except InvalidRequest as exc:
        messages.error(request, f"{name}: {exc.message}")
    else:
        messages.success(request, f"{name} removed.")
    return redirect("console:members", slug=access.tenant.slug)
