from django.core.validators import URLValidator
from django.utils import timezone
from rest_framework import serializers

from core.errors import InvalidRequest
from core.ssrf import validate_upstream_base_url
from tenants.models import AuditEntry, ProviderCredential, TenantApiKey


class CredentialSerializer(serializers.ModelSerializer):
    """A BYOK credential as shown: never the key, only its last four characters."""

    provider = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    base_url = serializers.CharField(read_only=True, help_text="Empty: the provider's default.")
    created = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ProviderCredential
        fields = [
            "id",
            "tenant",
            "provider",
            "last4",
            "base_url",
            "is_active",
            "created_at",
            "created",
            "rotated_at",
        ]
        read_only_fields = fields


def _safe_base_url(value: str) -> str:
    if value:
        try:
            validate_upstream_base_url(value)
        except InvalidRequest as exc:
            raise serializers.ValidationError(exc.message) from exc
    return value


class BaseUrlField(serializers.URLField):
    """A URL (`format: uri` in the schema) checked by the SSRF check alone: it is stricter than
    Django's URLValidator and says why it refuses (`127.1` is "not a canonical IPv4 address",
    not "Enter a valid URL")."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, URLValidator)]


class CredentialCreateSerializer(serializers.Serializer):
    # The catalog's Provider, reached through the foreign key: tenants sits below llm.
    provider = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=ProviderCredential.provider.field.related_model.objects.filter(is_active=True),
    )
    api_key = serializers.CharField(
        write_only=True, min_length=8, max_length=4000, trim_whitespace=True
    )
    base_url = BaseUrlField(required=False, allow_blank=True, max_length=500)

    def validate_base_url(self, value: str) -> str:
        return _safe_base_url(value)


# A new key or base URL, checked as on create; the provider stays the credential's own. (No
# docstring: the schema would show it as a description it did not have.)
class CredentialUpdateSerializer(CredentialCreateSerializer):
    provider = None


class NameListField(serializers.ListField):
    """A list of model ids, provider slugs or config names (empty: no restriction)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("child", serializers.CharField(max_length=200, trim_whitespace=True))
        kwargs.setdefault("max_length", 200)
        super().__init__(**kwargs)


class ApiKeyAccessSerializer(serializers.Serializer):
    """PATCH /keys/{id}/: what the key may call (either list; empty: no restriction)."""

    allowed_models = NameListField(required=False)
    allowed_configs = NameListField(required=False)


class TenantAccessSerializer(serializers.Serializer):
    """A tenant's plan (staff only): providers and models it may use; empty lists: all
    providers with a key and all their models. Keyless local providers only as listed."""

    tenant = serializers.CharField(source="slug", read_only=True)
    allowed_providers = NameListField(required=False)
    allowed_models = NameListField(required=False)
    local_providers = NameListField(required=False)


class ApiKeySerializer(serializers.ModelSerializer):
    """A tenant API key as listed: the visible prefix only."""

    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(TenantApiKey.Scope.choices))
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = TenantApiKey
        fields = [
            "id",
            "tenant",
            "name",
            "prefix",
            "scopes",
            "rpm_limit",
            "tpm_limit",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "created_at",
            "is_active",
            "allowed_models",
            "allowed_configs",
        ]
        read_only_fields = fields

    def get_is_active(self, key: TenantApiKey) -> bool:

        expired = key.expires_at is not None and key.expires_at <= timezone.now()
        return key.revoked_at is None and not expired


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, default="default")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(TenantApiKey.Scope.choices), min_length=1, max_length=3
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    rpm_limit = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2_147_483_647
    )
    tpm_limit = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2_147_483_647
    )
    allowed_models = NameListField(
        required=False, help_text="Models this key may call; empty: no restriction."
    )
    allowed_configs = NameListField(
        required=False, help_text="Routing configs this key may call; empty: no restriction."
    )

    def validate_expires_at(self, value):

        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The create response: the only time the secret is shown."""

    secret = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "secret"]
        read_only_fields = fields


class AuditEntrySerializer(serializers.ModelSerializer):
    """One configuration change: who (`actor`, `via` session | api_key | system), what
    (`object_type`, `object_id`) and which fields (`changes`: field -> [old, new], secrets as
    "***")."""

    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=2, max_length=2),
        read_only=True,
    )

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "via",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
        ]
        read_only_fields = fields
