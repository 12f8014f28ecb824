"""The usage record: one row per gateway request, and which of its tokens are billed."""

from django.db import models
from django.db.models import Q

from core.money import MONEY_FIELD


class UsageEvent(models.Model):
    """One gateway request, append-only. Cost is stamped at the price in force at the time."""

    class Status(models.TextChoices):
        SUCCESS = "success"
        ERROR = "error"
        FALLBACK_SUCCESS = "fallback_success"
        CACHE_HIT = "cache_hit"
        REJECTED = "rejected"

    class KeySource(models.TextChoices):
        PLATFORM = "platform"
        BYOK = "byok"

    request_id = models.CharField(max_length=64, unique=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    api_key = models.ForeignKey(
        "tenants.TenantApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    config = models.ForeignKey(
        "llm.RoutingConfig", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_model = models.CharField(max_length=260, blank=True, default="")
    model = models.CharField(max_length=260, blank=True, default="", help_text="Served model.")
    provider = models.CharField(max_length=64, blank=True, default="")
    key_source = models.CharField(
        max_length=16, choices=KeySource.choices, default=KeySource.PLATFORM
    )
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0, help_text="Input read from cache.")
    cache_write_tokens = models.PositiveIntegerField(
        default=0, help_text="Input written to the provider's prompt cache."
    )
    reasoning_tokens = models.PositiveIntegerField(
        default=0, help_text="Output spent on reasoning (part of output_tokens)."
    )
    cost_usd = models.DecimalField(default=0, **MONEY_FIELD)
    saved_usd = models.DecimalField(
        default=0, help_text="Cost avoided by a cache hit.", **MONEY_FIELD
    )
    latency_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices)
    fallback = models.BooleanField(default=False)
    attempts = models.JSONField(default=list, blank=True)
    route_reason = models.CharField(max_length=500, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    # The tenant's own customer (X-Tollgate-User, body `user`, `metadata.user_id`); "" if none.
    end_user = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="usage_tenant_created"),
            models.Index(
                fields=["tenant", "config", "created_at"], name="usage_tenant_cfg_created"
            ),
            models.Index(
                fields=["tenant", "api_key", "created_at"], name="usage_tenant_key_created"
            ),
            models.Index(
                fields=["tenant", "end_user", "created_at"], name="usage_tenant_user_created"
            ),
            # The dashboard's "saved this month": cost avoided is not a rollup measure, and only
            # cache hits carry it (index-only scan on PostgreSQL).
            models.Index(
                fields=["created_at", "tenant"],
                include=["saved_usd"],
                condition=Q(saved_usd__gt=0),
                name="usage_saved_created",
            ),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.request_id


# Tokens of these events were not billed by a provider (served from the cache, or refused before
# any call): they count as requests, not as tokens against budgets or in token rollups.
NOT_BILLED_TOKEN_STATUSES = (UsageEvent.Status.CACHE_HIT, UsageEvent.Status.REJECTED)
