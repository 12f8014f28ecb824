from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from llm.model_refs import model_ref_resolve_among
from llm.rules import validate_routing_config
from llm.similarity_settings import validate_similarity_cache


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
    litellm_provider = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="This provider's prefix in LiteLLM's price map (e.g. gemini, together_ai).",
    )
    first_party = models.BooleanField(
        default=False,
        help_text=(
            "This provider makes the models it lists (OpenAI, Anthropic, Google...), rather than "
            "hosting others' (Azure, Groq, Together...): a bare model id that several providers "
            "list resolves to the first party."
        ),
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


class LLMModelQuerySet(models.QuerySet):
    def resolve(self, *, ref: str) -> "LLMModel | None":
        """An active model of an active provider by reference (llm.model_refs has the rule)."""
        if not isinstance(ref, str) or not ref:
            return None
        bare = Q(model_id=ref)
        if "/" in ref:
            provider_slug, model_id = ref.split("/", 1)
            bare |= Q(provider__slug=provider_slug, model_id=model_id)
        candidates = list(
            self.select_related("provider").filter(bare, is_active=True, provider__is_active=True)
        )
        return model_ref_resolve_among(
            ref,
            models=candidates,
            qualified_id=lambda m: f"{m.provider.slug}/{m.model_id}",
            first_party=lambda model: model.provider.first_party,
        )


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

    class Kind(models.TextChoices):
        CHAT = "chat"
        EMBEDDING = "embedding"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    model_id = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, blank=True, default="")
    context_window = models.PositiveIntegerField()
    max_output_tokens = models.PositiveIntegerField()
    input_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    output_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    cached_input_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    cache_write_price_per_1m = models.DecimalField(
        null=True,
        blank=True,
        help_text="Prompt-cache writes (Anthropic's 5-minute cache); empty: the input price.",
        **PRICE_FIELD,
    )
    cache_write_1h_price_per_1m = models.DecimalField(
        null=True,
        blank=True,
        help_text="Prompt-cache writes for one hour; empty: the cache write price.",
        **PRICE_FIELD,
    )
    capabilities = models.JSONField(default=list, blank=True)
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        default=Kind.CHAT,
        help_text="What the model serves: chat routing never picks an embedding model.",
    )
    speed_tier = models.CharField(
        max_length=16, choices=SpeedTier.choices, default=SpeedTier.MEDIUM
    )
    quality_tier = models.CharField(
        max_length=16, choices=QualityTier.choices, default=QualityTier.GOOD
    )
    is_active = models.BooleanField(default=True)
    price_source = models.CharField(max_length=200, blank=True, default="")
    price_updated_at = models.DateField(null=True, blank=True)
    litellm_key = models.CharField(
        max_length=260,
        blank=True,
        default="",
        help_text="Key in LiteLLM's price map when it is not <litellm provider>/<model id>.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = LLMModelQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="llmmodel_unique_id")
        ]
        ordering = ["provider__slug", "model_id"]
        verbose_name = "LLM model"

    def __str__(self) -> str:
        return self.qualified_id

    def save(self, *args, **kwargs) -> None:
        """Every change of price (loader, LiteLLM refresh, admin edit) appends a history row.

        Usage is costed at the price in force when it happened (`model_price_at`), so a new
        price applies to new usage only.
        """
        prices = self.price_tuple()
        changed = prices != getattr(self, "_saved_prices", None)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and not set(update_fields) & set(PRICE_FIELDS):
            changed = False
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)
            if changed:
                LLMModelPrice.objects.create(
                    model=self,
                    effective_from=timezone.now(),
                    input_price_per_1m=prices[0],
                    output_price_per_1m=prices[1],
                    cached_input_price_per_1m=prices[2],
                    cache_write_price_per_1m=prices[3],
                    cache_write_1h_price_per_1m=prices[4],
                    source=self.price_source,
                )
        if changed or update_fields is None:
            self._saved_prices = prices

    @property
    def qualified_id(self) -> str:
        return f"{self.provider.slug}/{self.model_id}"

    @property
    def is_priced(self) -> bool:
        return self.input_price_per_1m is not None and self.output_price_per_1m is not None

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._saved_prices = instance.price_tuple()
        return instance

    def price_tuple(self) -> tuple[Decimal | None, ...]:
        """The prices in PRICE_FIELDS' order, one spelling each."""
        return tuple(normalize_price(getattr(self, name)) for name in PRICE_FIELDS)


PRICE_FIELDS = (
    "input_price_per_1m",
    "output_price_per_1m",
    "cached_input_price_per_1m",
    "cache_write_price_per_1m",
    "cache_write_1h_price_per_1m",
)


def normalize_price(value: Decimal | str | int | None) -> Decimal | None:
    """One spelling per price: Decimal("0.150000") -> 0.15, Decimal("2.000000") -> 2."""
    if value is None:
        return None
    value = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


class LLMModelPrice(models.Model):
    """A model's price from `effective_from` until the next row: price history, append-only.

    Null prices mean the price was unknown then (the model was not routable).
    """

    model = models.ForeignKey(LLMModel, on_delete=models.CASCADE, related_name="price_history")
    effective_from = models.DateTimeField()
    input_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    output_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    cached_input_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    cache_write_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    cache_write_1h_price_per_1m = models.DecimalField(null=True, blank=True, **PRICE_FIELD)
    source = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_id", "-effective_from", "-id"]
        indexes = [
            models.Index(fields=["model", "-effective_from"], name="llmmodelprice_model_from")
        ]
        verbose_name = "LLM model price"

    def __str__(self) -> str:
        return f"{self.model_id}@{self.effective_from:%Y-%m-%d %H:%M}"


RESERVED_CONFIG_NAMES = frozenset({"auto"})


class RoutingConfig(models.Model):
    """A tenant's routing config, in the contract's payload shape (README, Gateway)."""

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
    similarity_cache = models.JSONField(
        default=dict,
        blank=True,
        help_text="The similarity cache (llm/similarity_settings.py); {} is off.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="routingconfig_unique_name"),
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(is_default=True),
                name="routingconfig_one_default",
                violation_error_message="This tenant already has a default config.",
            ),
        ]
        ordering = ["tenant__slug", "name"]
        verbose_name = "routing config"

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"

    def clean(self) -> None:
        chat_models = LLMModel.objects.filter(kind=LLMModel.Kind.CHAT)
        errors = validate_routing_config(
            resolve=lambda ref: chat_models.resolve(ref=ref),
            primary_model=self.primary_model,
            fallback_models=self.fallback_models,
            params=self.params,
            rules=self.rules,
        )
        errors.update(
            validate_similarity_cache(
                self.similarity_cache,
                resolve_embedding=lambda ref: LLMModel.objects.filter(
                    kind=LLMModel.Kind.EMBEDDING
                ).resolve(ref=ref),
                resolve_chat=lambda ref: chat_models.resolve(ref=ref),
            )
        )
        if self.name in RESERVED_CONFIG_NAMES:
            errors["name"] = f"{self.name!r} is reserved: it means the tenant's default config."
        if errors:
            raise ValidationError(errors)
