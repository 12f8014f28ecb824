"""Billing export reads: a tenant's export versions, newest month first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.models import BillingExport

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from tenants.models import Tenant


def export_list(*, tenant: Tenant | None) -> QuerySet[BillingExport]:
    """A tenant's exports; platform staff (tenant=None) also see all-tenant exports."""
    qs = BillingExport.objects.select_related("tenant").order_by("-month", "-version", "-id")
    return qs.filter(tenant=tenant) if tenant is not None else qs
