from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class WireFormat(models.TextChoices):
    OPENAI_CHAT = "openai_chat", "OpenAI Chat Completions"
    ANTHROPIC_MESSAGES = "anthropic_messages", "Anthropic Messages"
    GEMINI = "gemini", "Google Gemini generateContent"


class AuthStyle(models.TextChoices):
    BEARER = "bearer", "Authorization: Bearer"
    X_API_KEY = "x_api_key", "x-api-key header"
    GOOGLE_API_KEY = "x_goog_api_key", "x-goog-api-key header"
    AZURE_API_KEY = "api_key_header", "api-key header"
    NONE = "none", "No key"


class Provider(models.Model):
    """An upstream vendor. OpenAI-compatible vendors are rows, not code."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    wire_format = models.CharField(max_length=32, choices=WireFormat.choices)
    base_url = models.URLField(max_length=500)
    auth_style = models.CharField(
        max_length=32, choices=AuthStyle.choices, default=AuthStyle.BEARER
    )
    features = models.JSONField(default=dict, blank=True)
    api_key_env = models.CharField(
        max_length=64, blank=True, default="", help_text="Environment variable of the platform key."
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def base_url_env(self) -> str:
        return f"TOLLGATE_{self.slug.upper().replace('-', '_')}_BASE_URL"


PRICE_FIELD = {"max_digits": 14, "decimal_places": 6, "validators": [MinValueValidator(Decimal(0))]}


class LLMModel(models.Model):
    """A catalog model (prices: USD per 1M tokens). Without a known price it is not routable."""

    class SpeedTier(models.TextChoices):
        FAST = "fast"
        MEDIUM = "medium"
        SLOW = "slow"

    class QualityTier(models.TextChoices):
        BASIC = "basic"
        GOOD = "good"
        BEST = "best"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    model_id = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, blank=True, default="")
    context_window = models.PositiveIntegerField()
    max_output_tokens = models.PositiveIntegerField()
    input_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    output_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    cached_input_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    capabilities = models.JSONField(default=list, blank=True)
    speed_tier = models.CharField(
        max_length=16, choices=SpeedTier.choices, default=SpeedTier.MEDIUM
    )
    quality_tier = models.CharField(
        max_length=16, choices=QualityTier.choices, default=QualityTier.GOOD
    )
    is_active = models.BooleanField(default=True)
    price_source = models.CharField(max_length=200, blank=True, default="")
    price_updated_at = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="llmmodel_unique_id")
        ]
        ordering = ["provider__slug", "model_id"]
        verbose_name = "LLM model"

    def __str__(self) -> str:
        return self.qualified_id

    @property
    def qualified_id(self) -> str:
        return f"{self.provider.slug}/{self.model_id}"

    @property
    def is_priced(self) -> bool:
        return self.input_price_per_1m is not None and self.output_price_per_1m is not None


class RoutingConfig(models.Model):
    """A tenant's routing config, in the contract's shape (see DESIGN.md, Payload shapes)."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="routing_configs"
    )
    name = models.SlugField(max_length=64)
    is_default = models.BooleanField(default=False)
    primary_model = models.CharField(max_length=260)
    fallback_models = models.JSONField(default=list, blank=True)
    use_byok = models.BooleanField(default=False)
    params = models.JSONField(default=dict, blank=True)
    rules = models.JSONField(default=list, blank=True)
    cache_ttl_seconds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="routingconfig_unique_name"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="routingconfig_one_default"
            ),
        ]
        ordering = ["tenant__slug", "name"]
        verbose_name = "routing config"

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.name}"

    def clean(self) -> None:
        from llm.rules import validate_routing_config

        errors = validate_routing_config(
            primary_model=self.primary_model,
            fallback_models=self.fallback_models,
            params=self.params,
            rules=self.rules,
        )
        if errors:
            raise ValidationError(errors)
