"""Pages in the admin's shell (unfold's sidebar, header and theme), in the tenant's time zone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

if TYPE_CHECKING:
    from django.http import HttpRequest

    from console.access import ConsoleAccess


def render_page(
    request: HttpRequest,
    template: str,
    *,
    title: str,
    access: ConsoleAccess | None = None,
    status: int = 200,
    **context,
) -> TemplateResponse:
    tenant = access.tenant if access is not None else None
    response = TemplateResponse(
        request,
        template,
        {
            **admin.site.each_context(request),
            "title": title,
            "access": access,
            "tenant": tenant,
            **context,
        },
        status=status,
    )
    # Rendered now, in the tenant's time zone: every date on a tenant's page is its local time.
    tz = tenant.tzinfo if tenant is not None else timezone.get_current_timezone()
    with timezone.override(tz):
        response.render()
    return response
