import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone {value!r}.")


def _default_allowed_providers() -> list[str]:
    """The platform's default plan for new tenants (TOLLGATE_DEFAULT_ALLOWED_PROVIDERS)."""
    return list(getattr(settings, "TOLLGATE_DEFAULT_ALLOWED_PROVIDERS", None) or [])


def validate_name_list(value: object) -> None:
    """A list of non-empty names (model ids, provider slugs, config names), at most 200."""
    if not isinstance(value, list) or len(value) > 200:
        raise ValidationError("Must be a list of at most 200 names.")
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > 200:
            raise ValidationError("Each entry must be a non-empty name of at most 200 characters.")


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
    # Statement header (docs/billing.md): copied onto each statement when it is finalized.
    legal_name = models.CharField(max_length=200, blank=True, default="")
    billing_address_line1 = models.CharField(max_length=200, blank=True, default="")
    billing_address_line2 = models.CharField(max_length=200, blank=True, default="")
    billing_postal_code = models.CharField(max_length=32, blank=True, default="")
    billing_city = models.CharField(max_length=100, blank=True, default="")
    billing_region = models.CharField(max_length=100, blank=True, default="")
    billing_country = models.CharField(max_length=2, blank=True, default="", help_text="ISO 3166")
    tax_id = models.CharField(max_length=64, blank=True, default="")
    alert_webhook_url = models.URLField(blank=True, default="")
    alert_email = models.EmailField(blank=True, default="")
    # Alert webhooks: signed with this secret (AES-GCM at rest like BYOK keys, shown once on
    # rotation; README "Signed alert webhooks"), JSON or Slack-shaped.
    alert_webhook_secret = models.TextField(blank=True, default="", editable=False)
    alert_webhook_format = models.CharField(
        max_length=16,
        choices=[("json", "json"), ("slack", "slack")],
        default="json",
        blank=True,  # "" (a form that leaves it out) is json
        help_text='"slack": a Slack incoming-webhook body ({"text", "blocks"}) instead of JSON.',
    )
    # Model access (the operator's plan for this tenant; README "Model access"): empty = all.
    allowed_providers = models.JSONField(
        default=_default_allowed_providers,
        blank=True,
        validators=[validate_name_list],
        help_text="Provider slugs this tenant may use; empty: every provider with a key.",
    )
    allowed_models = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_name_list],
        help_text="Model ids (provider/model or model) this tenant may use; empty: all.",
    )
    local_providers = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_name_list],
        help_text="Keyless local providers (Ollama, vLLM) this tenant may see; empty: none.",
    )
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
    allowed_models = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_name_list],
        help_text="Models this key may call (provider/model or model); empty: no restriction.",
    )
    allowed_configs = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_name_list],
        help_text="Routing configs this key may call; empty: no restriction.",
    )
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
    # The key's health as the gateway saw it, written by usage ingestion (one UPDATE per batch
    # and key), never on the request path. The kind is the provider error's class, never a body.
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_kind = models.CharField(max_length=32, blank=True, default="", editable=False)

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


class AuditEntry(models.Model):
    """One create, change or delete of a configuration object (tenant, member, API key, BYOK
    credential, routing config, budget), whoever made it and however (admin, API, command).

    Plain integer references rather than foreign keys: the trail outlives the objects, users
    and even the tenant it names (a cascade delete records entries while its rows disappear).
    Secret fields are recorded as "***", never their values."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"

    class Via(models.TextChoices):
        SESSION = "session"
        API_KEY = "api_key"
        SYSTEM = "system"

    tenant_ref = models.BigIntegerField(null=True, blank=True, help_text="Tenant id.")
    at = models.DateTimeField(auto_now_add=True)
    actor_ref = models.BigIntegerField(null=True, blank=True, help_text="User id.")
    actor = models.CharField(max_length=160, blank=True, default="")
    via = models.CharField(max_length=16, choices=Via.choices)
    api_key_ref = models.BigIntegerField(null=True, blank=True, help_text="TenantApiKey id.")
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant_ref", "-at"], name="audit_tenant_at"),
            models.Index(fields=["-at"], name="audit_at"),
        ]
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id} by {self.actor or self.via}"
