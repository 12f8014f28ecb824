"""Admin for the model catalog (operators edit, tenants read) and tenants' routing configs."""

from django import forms
from django.contrib import admin
from django.db import models
from unfold.admin import ModelAdmin, TabularInline
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from llm.models import LLMModel, LLMModelPrice, Provider, RoutingConfig
from llm.services.catalog_file import CAPABILITIES
from tenants.admin_scoping import (
    CatalogAdminMixin,
    ScopedRelatedFilter,
    TenantScopedAdminMixin,
    is_operator,
)
from tenants.forms import FieldPathErrorsMixin, PrettyJSONField

JSON_FIELD_OVERRIDES = {models.JSONField: {"form_class": PrettyJSONField}}


@admin.register(Provider)
class ProviderAdmin(CatalogAdminMixin, ModelAdmin):
    list_display = ["slug", "name", "wire_format", "base_url", "auth_style", "is_active"]
    list_filter = ["wire_format", "auth_style", "is_active"]
    search_fields = ["slug", "name"]
    formfield_overrides = JSON_FIELD_OVERRIDES
    readonly_fields = ["updated_at"]


# The model page's sections; the form edits exactly their fields.
_MODEL_IDENTITY = ["provider", "model_id", "display_name", "is_active"]
_MODEL_PRICES = [
    "input_price_per_1m",
    "output_price_per_1m",
    "cached_input_price_per_1m",
    "cache_write_price_per_1m",
    "cache_write_1h_price_per_1m",
    "price_source",
    "price_updated_at",
    "litellm_key",
]
_MODEL_LIMITS = [
    "context_window",
    "max_output_tokens",
    "capabilities",
    "speed_tier",
    "quality_tier",
]


class LLMModelForm(forms.ModelForm):
    capabilities = forms.MultipleChoiceField(
        choices=[(c, c) for c in sorted(CAPABILITIES)],
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )

    class Meta:
        model = LLMModel
        fields = [*_MODEL_IDENTITY, *_MODEL_PRICES, *_MODEL_LIMITS]


class LLMModelPriceInline(TabularInline):
    """Price history is append-only: LLMModel.save writes it, nobody edits it."""

    model = LLMModelPrice
    extra = 0
    can_delete = False
    fields = [
        "effective_from",
        "input_price_per_1m",
        "output_price_per_1m",
        "cached_input_price_per_1m",
        "cache_write_price_per_1m",
        "cache_write_1h_price_per_1m",
        "source",
    ]
    readonly_fields = fields
    ordering = ["-effective_from", "-id"]
    max_num = 0

    def has_view_permission(self, request, obj=None):
        return is_operator(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PricedFilter(admin.SimpleListFilter):
    title = "price"
    parameter_name = "priced"

    def lookups(self, request, model_admin):
        return [("yes", "Known price"), ("no", "No price (not routable)")]

    def queryset(self, request, queryset):
        unpriced = models.Q(input_price_per_1m__isnull=True) | models.Q(
            output_price_per_1m__isnull=True
        )
        if self.value() == "yes":
            return queryset.exclude(unpriced)
        if self.value() == "no":
            return queryset.filter(unpriced)
        return queryset


@admin.register(LLMModel)
class LLMModelAdmin(CatalogAdminMixin, ModelAdmin):
    form = LLMModelForm
    list_display = [
        "qualified_id",
        "display_name",
        "input_price_per_1m",
        "output_price_per_1m",
        "cached_input_price_per_1m",
        "context_window",
        "speed_tier",
        "quality_tier",
        "is_active",
    ]
    list_filter = [
        ("provider", admin.RelatedOnlyFieldListFilter),
        "speed_tier",
        "quality_tier",
        "is_active",
        PricedFilter,
    ]
    list_select_related = ["provider"]
    search_fields = ["model_id", "display_name", "provider__slug"]
    formfield_overrides = JSON_FIELD_OVERRIDES
    readonly_fields = ["updated_at"]
    inlines = [LLMModelPriceInline]
    fieldsets = [
        (None, {"fields": _MODEL_IDENTITY}),
        ("Prices (USD per 1M tokens; empty = unknown, not routable)", {"fields": _MODEL_PRICES}),
        ("Limits and capabilities", {"fields": [*_MODEL_LIMITS, "updated_at"]}),
    ]

    @admin.display(description="model", ordering="model_id")
    def qualified_id(self, obj: LLMModel) -> str:
        return obj.qualified_id


class RoutingConfigForm(FieldPathErrorsMixin, forms.ModelForm):
    class Meta:
        model = RoutingConfig
        fields = [
            "tenant",
            "name",
            "is_default",
            "use_byok",
            "cache_ttl_seconds",
            "primary_model",
            "fallback_models",
            "params",
            "rules",
            "similarity_cache",
        ]
        help_texts = {
            "primary_model": "A catalog model such as openai/gpt-4o-mini.",
            "fallback_models": 'Ordered list, e.g. ["anthropic/claude-haiku-4-5"].',
            "params": 'Default parameters, e.g. {"temperature": 0.2, "max_tokens": 1024}.',
            "rules": "Ordered routing rules (the language: llm/rules.py); the first match decides.",
        }


@admin.register(RoutingConfig)
class RoutingConfigAdmin(TenantScopedAdminMixin, ModelAdmin):
    form = RoutingConfigForm
    formfield_overrides = JSON_FIELD_OVERRIDES
    list_display = [
        "name",
        "tenant",
        "is_default",
        "primary_model",
        "fallback_count",
        "rule_count",
        "use_byok",
        "cache_ttl_seconds",
        "updated_at",
    ]
    list_filter = [("tenant", ScopedRelatedFilter), "is_default", "use_byok"]
    search_fields = ["name", "primary_model"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["tenant", "name", "is_default", "use_byok", "cache_ttl_seconds"]}),
        ("Models", {"fields": ["primary_model", "fallback_models"]}),
        ("Parameters and rules", {"fields": ["params", "rules"]}),
        ("Similarity cache", {"fields": ["similarity_cache"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="fallbacks")
    def fallback_count(self, obj: RoutingConfig) -> int:
        return len(obj.fallback_models or [])

    @admin.display(description="rules")
    def rule_count(self, obj: RoutingConfig) -> int:
        return len(obj.rules or [])
