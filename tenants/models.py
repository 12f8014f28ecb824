import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone {value!r}.")


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    markup_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=0,
        help_text="Markup on platform-key spend in billing exports, in percent.",
    )
    alert_webhook_url = models.URLField(blank=True, default="")
    alert_email = models.EmailField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        VIEWER = "viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")
        ]
        ordering = ["tenant__slug", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class TenantApiKey(models.Model):
    """A tenant's API key. Only a keyed hash of the secret is stored; the secret is shown once."""

    class Scope(models.TextChoices):
        INFERENCE = "inference"
        READ = "read"
        MANAGE = "manage"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, help_text="The visible start of the secret.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests/minute.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens/minute.")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    def clean(self) -> None:
        unknown = set(self.scopes or []) - set(self.Scope.values)
        if unknown or not self.scopes:
            raise ValidationError(
                {"scopes": f"Scopes must be a non-empty subset of {self.Scope.values}."}
            )


class ProviderCredential(models.Model):
    """A tenant's own provider key (BYOK), encrypted at rest with AES-GCM.

    The ciphertext is bound to the tenant id and the row id (associated data), so it cannot be
    copied to another row or tenant. The key itself is never shown again, only `last4`.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="credentials")
    provider = models.ForeignKey("llm.Provider", on_delete=models.PROTECT, related_name="+")
    encrypted_key = models.TextField(editable=False)
    base_url = models.URLField(blank=True, default="", max_length=500)
    last4 = models.CharField(max_length=4, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rotated_at = models.DateTimeField(null=True, blank=True)
    rotated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "provider"], name="credential_unique_tenant_provider"
            )
        ]
        ordering = ["tenant__slug", "provider__slug"]
        verbose_name = "provider credential (BYOK)"
        verbose_name_plural = "provider credentials (BYOK)"

    def __str__(self) -> str:
        return f"{self.provider_id} key …{self.last4}"
