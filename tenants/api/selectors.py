"""Reads for the management API. `tenant=None` means every tenant (platform staff only)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from tenants import selectors
from tenants.models import AuditEntry, Membership, ProviderCredential, Tenant, TenantApiKey


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


def credential_exists(*, tenant: Tenant, provider_id: int) -> bool:
    return selectors.credential_list(tenant=tenant).filter(provider_id=provider_id).exists()


def memberships_for_user(
    *, user: AbstractBaseUser, tenant_slug: str = "", limit: int = 2
) -> list[Membership]:
    """The user's memberships (of one tenant when a slug is given), at most `limit`."""
    qs = Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__slug")
    if tenant_slug:
        qs = qs.filter(tenant__slug=tenant_slug)
    return list(qs[:limit])


def audit_entry_list(*, tenant: Tenant | None) -> QuerySet[AuditEntry]:
    """A tenant's audit trail, newest first; every tenant's for platform staff (tenant=None)."""
    qs = AuditEntry.objects.order_by("-at", "-id")
    return qs.filter(tenant_ref=tenant.pk) if tenant is not None else qs
