"""Reads of tenant-owned objects. Every query here is scoped to one tenant."""

from django.contrib.auth.models import AbstractBaseUser

from tenants.models import Membership, ProviderCredential, Tenant, TenantApiKey


def tenant_get(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def tenants_for_user(*, user: AbstractBaseUser):
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user).distinct()


def api_key_list(*, tenant: Tenant):
    return TenantApiKey.objects.filter(tenant=tenant)


def credential_list(*, tenant: Tenant):
    return ProviderCredential.objects.filter(tenant=tenant).select_related("provider")


def credential_for_provider(*, tenant: Tenant, provider_id: int) -> ProviderCredential | None:
    return (
        ProviderCredential.objects.filter(tenant=tenant, provider_id=provider_id, is_active=True)
        .select_related("provider")
        .first()
    )


def membership_list(*, tenant: Tenant):
    return Membership.objects.filter(tenant=tenant).select_related("user")
