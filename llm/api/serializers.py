from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api_fields import MoneyField
from llm.models import AuthStyle, LLMModel, Provider, RoutingConfig, WireFormat
from llm.rules import validate_routing_config
from llm.selectors import embedding_model_resolve, model_resolve, routing_config_get
from llm.services.routing_configs import CONFIG_FIELDS
from llm.similarity_settings import validate_similarity_cache


class PriceField(MoneyField):
    """A price per million tokens: optional, and null where the provider publishes none."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class ProviderSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="slug", read_only=True)
    wire_format = serializers.ChoiceField(choices=WireFormat.choices)
    auth_style = serializers.ChoiceField(choices=AuthStyle.choices, required=False)
    features = serializers.DictField(required=False)

    class Meta:
        model = Provider
        fields = [
            "id",
            "slug",
            "name",
            "wire_format",
            "base_url",
            "auth_style",
            "features",
            "api_key_env",
            "first_party",
            "is_active",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]


class LLMModelSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="qualified_id", read_only=True)
    provider = serializers.SlugRelatedField(slug_field="slug", queryset=Provider.objects.all())
    input_price_per_1m = PriceField()
    output_price_per_1m = PriceField()
    cached_input_price_per_1m = PriceField()
    cache_write_price_per_1m = PriceField()
    cache_write_1h_price_per_1m = PriceField()
    capabilities = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    speed_tier = serializers.ChoiceField(choices=LLMModel.SpeedTier.choices, required=False)
    quality_tier = serializers.ChoiceField(choices=LLMModel.QualityTier.choices, required=False)

    class Meta:
        model = LLMModel
        fields = [
            "id",
            "provider",
            "model_id",
            "display_name",
            "context_window",
            "max_output_tokens",
            "input_price_per_1m",
            "output_price_per_1m",
            "cached_input_price_per_1m",
            "cache_write_price_per_1m",
            "cache_write_1h_price_per_1m",
            "capabilities",
            "speed_tier",
            "quality_tier",
            "is_active",
            "price_source",
            "price_updated_at",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        validators: list = []  # the unique (provider, model_id) pair: full_clean in the service


class ModelFilterSerializer(serializers.Serializer):
    provider = serializers.SlugField(required=False)
    capability = serializers.CharField(required=False, max_length=64)
    max_input_price = MoneyField(required=False)
    max_output_price = MoneyField(required=False)


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "when": {"type": "object", "additionalProperties": True},
                "route": {"type": "object", "additionalProperties": True},
            },
            "required": ["route"],
        },
    }
)
class RulesField(serializers.ListField):
    child = serializers.DictField()


class RoutingConfigSerializer(serializers.ModelSerializer):
    """The contract's routing config. Rules are checked by llm.rules; errors name the path."""

    fallback_models = serializers.ListField(
        child=serializers.CharField(max_length=260), required=False
    )
    params = serializers.DictField(required=False)
    rules = RulesField(required=False)
    similarity_cache = serializers.DictField(
        required=False,
        help_text=(
            "The similarity cache: {enabled, embedding_model, threshold (0.95), max_entries "
            "(1000), ttl_seconds (86400), dimensions, allow_tools, allow_temperature}; {} is off."
        ),
    )
    updated_at = serializers.DateTimeField(
        required=False,
        help_text="On update: the value you read. A different current value is a 409.",
    )
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = RoutingConfig
        # The writable fields are the ones the write service takes.
        fields = ["id", "tenant", *CONFIG_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at"]
        validators: list = []

    def validate(self, attrs):
        instance = self.instance
        tenant = self.context["tenant"]

        def current(field, default):
            if field in attrs:
                return attrs[field]
            return getattr(instance, field) if instance is not None else default

        errors: dict[str, list[str]] = {}
        name = current("name", None)
        if name is not None:
            clash = routing_config_get(tenant=tenant, name=name)
            if clash is not None and (instance is None or clash.pk != instance.pk):
                errors["name"] = [f"A config named {name!r} already exists."]
        found = validate_routing_config(
            resolve=lambda ref: model_resolve(ref=ref),
            primary_model=current("primary_model", ""),
            fallback_models=current("fallback_models", []),
            params=current("params", {}),
            rules=current("rules", []),
        )
        found.update(
            validate_similarity_cache(
                current("similarity_cache", {}),
                resolve_embedding=lambda ref: embedding_model_resolve(ref=ref),
                resolve_chat=lambda ref: model_resolve(ref=ref),
            )
        )
        for path, message in found.items():
            errors.setdefault(path, []).append(message)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class _UpstreamHealthSerializer(serializers.Serializer):
    breaker = serializers.ChoiceField(choices=["closed", "half_open", "open"])
    calls = serializers.IntegerField(help_text="Upstream calls in the window (each retry counts).")
    errors = serializers.IntegerField(help_text="Calls that failed for the upstream's reasons.")
    error_rate = serializers.FloatField(allow_null=True, help_text="errors / calls; null: no call")
    p50_latency_ms = serializers.IntegerField(
        allow_null=True, help_text="Median latency of the successful calls; null: none."
    )


class CredentialHealthSerializer(_UpstreamHealthSerializer):
    id = serializers.IntegerField()
    last4 = serializers.CharField()


class ProviderHealthSerializer(_UpstreamHealthSerializer):
    """A provider's platform key, and the caller's own BYOK credentials for it."""

    provider = serializers.CharField()
    name = serializers.CharField()
    window_seconds = serializers.IntegerField(
        help_text="The window: the 10-second buckets of the last 5 minutes (290-300 s)."
    )
    credentials = CredentialHealthSerializer(many=True)
