"""Statement and credit note reads, scoped to a tenant (platform staff: tenant=None, all)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.models import CreditNote, Statement

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from tenants.models import Tenant


def statement_list(
    *, tenant: Tenant | None, month: str | None = None, status: str | None = None
) -> QuerySet[Statement]:
    qs = Statement.objects.select_related("tenant").order_by("-month", "tenant__slug", "-id")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if month:
        qs = qs.filter(month=month)
    if status:
        qs = qs.filter(status=status)
    return qs


def credit_note_list(*, tenant: Tenant | None) -> QuerySet[CreditNote]:
    qs = CreditNote.objects.select_related("tenant", "statement").prefetch_related("lines")
    return qs.filter(tenant=tenant) if tenant is not None else qs
