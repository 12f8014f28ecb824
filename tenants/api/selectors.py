"""Reads for the management API. `tenant=None` means every tenant (platform staff only)."""

from django.db.models import QuerySet

from tenants import selectors
from tenants.models import ProviderCredential, Tenant, TenantApiKey


def api_key_list(*, tenant: Tenant | None) -> QuerySet[TenantApiKey]:
    if tenant is not None:
        return selectors.api_key_list(tenant=tenant).order_by("-created_at", "-id")
    return TenantApiKey.objects.select_related("tenant").order_by("-created_at", "-id")


def credential_list(*, tenant: Tenant | None) -> QuerySet[ProviderCredential]:
    if tenant is not None:
        return selectors.credential_list(tenant=tenant).order_by("provider__slug", "id")
    return ProviderCredential.objects.select_related("tenant", "provider").order_by(
        "tenant__slug", "provider__slug", "id"
    )
