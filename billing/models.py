from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
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
    cached_tokens = models.PositiveIntegerField(default=0)
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


def validate_alert_thresholds(value) -> None:
    """A list of distinct whole percentages in 1..1000 (over 100 alerts on overspend of soft
    budgets)."""
    if not isinstance(value, list):
        raise ValidationError("Must be a list of percentages.")
    seen = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 1000:
            raise ValidationError(f"{item!r} is not a whole percentage between 1 and 1000.")
        if item in seen:
            raise ValidationError(f"{item} is listed twice.")
        seen.add(item)


# Tokens of these events were not billed by a provider (served from the cache, or refused before
# any call): they count as requests, not as tokens against budgets or in token rollups.
NOT_BILLED_TOKEN_STATUSES = (UsageEvent.Status.CACHE_HIT, UsageEvent.Status.REJECTED)


class Budget(models.Model):
    """A spend or token limit for a tenant, one of its routing configs or one of its API keys,
    per day or per month in the tenant's time zone. `strict` blocks at the limit, `soft` only
    counts and alerts."""

    class Scope(models.TextChoices):
        TENANT = "tenant"
        CONFIG = "config"
        KEY = "key"

    class Period(models.TextChoices):
        DAILY = "daily"
        MONTHLY = "monthly"

    class Mode(models.TextChoices):
        STRICT = "strict"
        SOFT = "soft"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="budgets")
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.TENANT)
    config = models.ForeignKey(
        "llm.RoutingConfig", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    api_key = models.ForeignKey(
        "tenants.TenantApiKey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
    )
    period = models.CharField(max_length=16, choices=Period.choices)
    limit_usd = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    limit_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.STRICT)
    alert_thresholds = models.JSONField(
        default=list, blank=True, validators=[validate_alert_thresholds]
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__slug", "scope", "period", "id"]
        indexes = [models.Index(fields=["tenant", "is_active"], name="budget_tenant_active")]

    def __str__(self) -> str:
        return f"{self.period} {self.mode} budget for {self.scope_label}"

    @property
    def scope_label(self) -> str:
        if self.scope == self.Scope.CONFIG and self.config_id:
            return f"config '{self.config.name}'"
        if self.scope == self.Scope.KEY and self.api_key_id:
            return f"key '{self.api_key.name}'"
        return "tenant"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.limit_usd is None and self.limit_tokens is None:
            errors["limit_usd"] = "Set limit_usd, limit_tokens or both."
        if self.scope == self.Scope.CONFIG:
            if not self.config_id:
                errors["config"] = "A config budget needs a routing config."
            elif self.tenant_id and self.config.tenant_id != self.tenant_id:
                errors["config"] = "The routing config belongs to another tenant."
        elif self.config_id:
            errors["config"] = "Only a config budget names a routing config."
        if self.scope == self.Scope.KEY:
            if not self.api_key_id:
                errors["api_key"] = "A key budget needs an API key."
            elif self.tenant_id and self.api_key.tenant_id != self.tenant_id:
                errors["api_key"] = "The API key belongs to another tenant."
        elif self.api_key_id:
            errors["api_key"] = "Only a key budget names an API key."
        if isinstance(self.alert_thresholds, list) and all(
            isinstance(t, int) for t in self.alert_thresholds
        ):
            self.alert_thresholds = sorted(self.alert_thresholds)
        if errors:
            raise ValidationError(errors)


class BudgetAlert(models.Model):
    """A threshold crossed in one period. The unique row makes each alert fire once per period."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    period_key = models.CharField(max_length=16, help_text="2026-11 or 2026-11-22 (tenant time).")
    threshold = models.PositiveIntegerField()
    used_pct = models.DecimalField(max_digits=10, decimal_places=2)
    spent_usd = models.DecimalField(default=0, **MONEY_FIELD)
    tokens = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_key", "threshold"], name="budgetalert_once_per_period"
            )
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.threshold}% of budget {self.budget_id} in {self.period_key}"


class BudgetCounter(models.Model):
    """Database counter for one (scope, period) of a tenant: the embedded default's counter and
    the fallback when Redis is unreachable. Integer micro-dollars, like the Redis counters.
    Its row lock serialises every reserve and settle on it."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=120, unique=True)
    spent_micros = models.BigIntegerField(default=0)
    spent_tokens = models.BigIntegerField(default=0)
    seeded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key


class BudgetHold(models.Model):
    """One reservation's hold on one database counter. Held amounts are summed over unexpired
    holds, so a hold whose process died stops counting when it expires."""

    reservation_id = models.CharField(max_length=40, db_index=True)
    counter = models.ForeignKey(BudgetCounter, on_delete=models.CASCADE, related_name="holds")
    micros = models.BigIntegerField()
    tokens = models.BigIntegerField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["counter", "expires_at"], name="budgethold_counter_exp")]

    def __str__(self) -> str:
        return f"{self.reservation_id} on {self.counter_id}"


# The rollups' bucket layout. 1: status in the buckets, and the daily tag rollups; 2: the daily
# tag-set rollups.
ROLLUP_LAYOUT = 2


class RollupState(models.Model):
    """Per tenant: the last local day whose daily rollup is final. Its row lock serialises
    rollups of one tenant, and retention never deletes events of a day after it."""

    tenant = models.OneToOneField(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="rollup_state"
    )
    rolled_through = models.DateField(null=True, blank=True)
    layout = models.PositiveSmallIntegerField(
        default=0,
        help_text="Bucket layout the rolled days were computed with; an older one is re-rolled.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.tenant_id} through {self.rolled_through}"


class _RollupBase(models.Model):
    # Plain integers (0 = none) rather than nullable FKs: NULLs are distinct in unique indexes,
    # which would defeat the upsert on both PostgreSQL and SQLite. No index of its own on
    # tenant: the bucket's unique index starts with it, and one index fewer makes upserts cheaper.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    model = models.CharField(max_length=260, blank=True, default="")
    provider = models.CharField(max_length=64, blank=True, default="")
    config_ref = models.BigIntegerField(default=0, help_text="RoutingConfig id, 0 for none.")
    api_key_ref = models.BigIntegerField(default=0, help_text="TenantApiKey id, 0 for none.")
    key_source = models.CharField(max_length=16, choices=UsageEvent.KeySource.choices)
    # "" on buckets rolled up before status was a dimension (RollupState.layout 0).
    status = models.CharField(
        max_length=20, blank=True, default="", choices=UsageEvent.Status.choices
    )
    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    billed_tokens = models.PositiveBigIntegerField(
        default=0, help_text="Tokens that count against token budgets."
    )
    cost_usd = models.DecimalField(default=0, **MONEY_FIELD)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.model} {self.cost_usd}"


class DailyRollup(_RollupBase):
    """Usage per (tenant, local day, model, provider, config, API key, key source, status)."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "day",
                    "model",
                    "provider",
                    "config_ref",
                    "api_key_ref",
                    "key_source",
                    "status",
                ],
                name="dailyrollup_bucket",
            )
        ]
        ordering = ["day", "id"]


class MonthlyRollup(_RollupBase):
    """Usage per (tenant, local month, ...), aggregated from the daily rollups."""

    month = models.CharField(max_length=7, help_text="YYYY-MM in the tenant's time zone.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "month",
                    "model",
                    "provider",
                    "config_ref",
                    "api_key_ref",
                    "key_source",
                    "status",
                ],
                name="monthlyrollup_bucket",
            )
        ]
        ordering = ["month", "id"]


class _TagRollupBase(models.Model):
    """Daily usage per tag dimension and (tenant, local day, model, provider, config, API key,
    status): the dimensions the usage API can filter on together with a tag."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    model = models.CharField(max_length=260, blank=True, default="")
    provider = models.CharField(max_length=64, blank=True, default="")
    config_ref = models.BigIntegerField(default=0, help_text="RoutingConfig id, 0 for none.")
    api_key_ref = models.BigIntegerField(default=0, help_text="TenantApiKey id, 0 for none.")
    status = models.CharField(max_length=20, choices=UsageEvent.Status.choices)
    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    billed_tokens = models.PositiveBigIntegerField(
        default=0, help_text="Tokens that count against token budgets."
    )
    cost_usd = models.DecimalField(default=0, **MONEY_FIELD)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class DailyTagRollup(_TagRollupBase):
    """Usage per tag: an event with several tags counts once under each of them."""

    tag = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "day",
                    "tag",
                    "model",
                    "provider",
                    "config_ref",
                    "api_key_ref",
                    "status",
                ],
                name="dailytagrollup_bucket",
            )
        ]
        ordering = ["day", "tag", "id"]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.tag} {self.cost_usd}"


class DailyTagSetRollup(_TagRollupBase):
    """Usage per whole tags array (as the events carry it; a few distinct arrays a day): which
    tags occur together, for `group_by=tag` with a tag filter. The tag rollups are summed from
    these rows."""

    tags = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "day",
                    "tags",
                    "model",
                    "provider",
                    "config_ref",
                    "api_key_ref",
                    "status",
                ],
                name="dailytagsetrollup_bucket",
            )
        ]
        ordering = ["day", "id"]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.tags} {self.cost_usd}"


class BillingExport(models.Model):
    """One version of a month's billing CSV for a tenant (or every tenant, tenant=None). A
    regeneration is a new row and a new file; a file once written is never changed."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="exports"
    )
    month = models.CharField(max_length=7)
    version = models.PositiveIntegerField()
    scheduled = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    file_name = models.CharField(max_length=300, blank=True, default="")
    summary_file_name = models.CharField(max_length=300, blank=True, default="")
    checksum_sha256 = models.CharField(max_length=64, blank=True, default="")
    row_count = models.PositiveIntegerField(default=0)
    total_cost_usd = models.DecimalField(default=0, **MONEY_FIELD)
    summary = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "month", "version"],
                condition=Q(tenant__isnull=False),
                name="billingexport_tenant_version",
            ),
            models.UniqueConstraint(
                fields=["month", "version"],
                condition=Q(tenant__isnull=True),
                name="billingexport_all_version",
            ),
            models.UniqueConstraint(
                fields=["tenant", "month"],
                condition=Q(scheduled=True, tenant__isnull=False),
                name="billingexport_one_scheduled",
            ),
        ]
        ordering = ["-month", "-version", "-id"]

    def __str__(self) -> str:
        owner = self.tenant.slug if self.tenant_id else "all tenants"
        return f"{owner} {self.month} v{self.version}"
