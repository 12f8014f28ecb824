"""Usage rollups: daily, monthly, per tag, per tag set and per end user, and each tenant's
rollup watermark."""

from django.db import models

from billing.models.usage import UsageEvent
from core.money import MONEY_FIELD

# The rollups' bucket layout. 1: status in the buckets, and the daily tag rollups; 2: the daily
# tag-set rollups; 3: the daily end-user rollups.
ROLLUP_LAYOUT = 3
# Each bucket's dimensions after its tenant and day (or month): the order of its unique index,
# and what billing/services/rollups.py groups by.
DIMENSIONS = ["model", "provider", "config_ref", "api_key_ref", "key_source", "status"]
TAG_DIMENSIONS = ["tag", "model", "provider", "config_ref", "api_key_ref", "status"]
TAG_SET_DIMENSIONS = ["tags", "model", "provider", "config_ref", "api_key_ref", "status"]
USER_DIMENSIONS = ["end_user", "model", "provider", "config_ref", "api_key_ref", "status"]


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

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.model} {self.cost_usd}"


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

    class Meta:
        abstract = True


class _UsageTotals(models.Model):
    """What every rollup bucket sums. Declared after the two bases above on purpose: Django
    orders a model's fields by declaration, so the totals follow the dimensions."""

    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    billed_tokens = models.PositiveBigIntegerField(
        default=0, help_text="Tokens that count against token budgets."
    )
    cost_usd = models.DecimalField(default=0, **MONEY_FIELD)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class DailyRollup(_RollupBase, _UsageTotals):
    """Usage per (tenant, local day, model, provider, config, API key, key source, status)."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", *DIMENSIONS],
                name="dailyrollup_bucket",
            )
        ]
        ordering = ["day", "id"]


class MonthlyRollup(_RollupBase, _UsageTotals):
    """Usage per (tenant, local month, ...), aggregated from the daily rollups."""

    month = models.CharField(max_length=7, help_text="YYYY-MM in the tenant's time zone.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "month", *DIMENSIONS],
                name="monthlyrollup_bucket",
            )
        ]
        ordering = ["month", "id"]


class DailyTagRollup(_TagRollupBase, _UsageTotals):
    """Usage per tag: an event with several tags counts once under each of them."""

    tag = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", *TAG_DIMENSIONS],
                name="dailytagrollup_bucket",
            )
        ]
        ordering = ["day", "tag", "id"]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.tag} {self.cost_usd}"


class DailyTagSetRollup(_TagRollupBase, _UsageTotals):
    """Usage per whole tags array (as the events carry it; a few distinct arrays a day): which
    tags occur together, for `group_by=tag` with a tag filter. The tag rollups are summed from
    these rows."""

    tags = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", *TAG_SET_DIMENSIONS],
                name="dailytagsetrollup_bucket",
            )
        ]
        ordering = ["day", "id"]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.tags} {self.cost_usd}"


class DailyUserRollup(_TagRollupBase, _UsageTotals):
    """Usage per end user (the tenant's own customers; "" for requests that named none), for
    `group_by=user` and the `user` filter over final days."""

    end_user = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", *USER_DIMENSIONS],
                name="dailyuserrollup_bucket",
            )
        ]
        ordering = ["day", "end_user", "id"]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.end_user} {self.cost_usd}"
