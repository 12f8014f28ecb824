import re
from datetime import timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import BillingExport, Budget, UsageEvent
from billing.selectors.usage_aggregates import GROUP_BY
from billing.services.budget_status import BudgetStatus, budget_statuses
from core.api_fields import MoneyField
from core.money import money_text
from llm.api.selectors import config_resolve
from tenants.api.selectors import api_key_list

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_RANGE_DAYS = 3 * 366


@extend_schema_field(
    {"oneOf": [{"type": "integer"}, {"type": "string"}], "nullable": True},
)
class ConfigRefField(serializers.Field):
    """A routing config of the caller's tenant, by id or name; rendered as its id."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            raise serializers.ValidationError("Must be a routing config id or name.")
        config = config_resolve(tenant=self.context["tenant"], ref=data)
        if config is None:
            raise serializers.ValidationError(f"Unknown routing config {data!r}.")
        return config

    def to_representation(self, value):
        return value.pk


@extend_schema_field({"type": "integer", "nullable": True})
class ApiKeyRefField(serializers.Field):
    """An API key of the caller's tenant, by id."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or not str(data).isdigit():
            raise serializers.ValidationError("Must be an API key id.")
        key = api_key_list(tenant=self.context["tenant"]).filter(pk=int(data)).first()
        if key is None:
            raise serializers.ValidationError(f"Unknown API key {data}.")
        return key

    def to_representation(self, value):
        return value.pk


class BudgetSerializer(serializers.ModelSerializer):
    """The contract's budget: scope tenant | config (config: id or name) | key (api_key: id) |
    user (end_user: an end user id, or "*" for each end user separately)."""

    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    scope = serializers.ChoiceField(choices=Budget.Scope.choices, default=Budget.Scope.TENANT)
    period = serializers.ChoiceField(choices=Budget.Period.choices)
    mode = serializers.ChoiceField(choices=Budget.Mode.choices, default=Budget.Mode.STRICT)
    config = ConfigRefField(required=False, allow_null=True)
    config_name = serializers.CharField(
        source="config.name", read_only=True, default=None, allow_null=True
    )
    api_key = ApiKeyRefField(required=False, allow_null=True)
    end_user = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=128
    )
    limit_usd = MoneyField(required=False, allow_null=True)
    limit_tokens = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=9_223_372_036_854_775_807
    )
    alert_thresholds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=1000), required=False, max_length=20
    )

    class Meta:
        model = Budget
        fields = [
            "id",
            "tenant",
            "scope",
            "config",
            "config_name",
            "api_key",
            "end_user",
            "period",
            "limit_usd",
            "limit_tokens",
            "mode",
            "alert_thresholds",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class BudgetStatusQuerySerializer(serializers.Serializer):
    """`?user=`: whose figures a "*" user budget shows (README "Per-end-user budgets")."""

    user = serializers.CharField(required=False, max_length=128, help_text="End user.")

    def validate_user(self, value: str) -> str:
        if not value.isprintable():
            raise serializers.ValidationError("An end user id is printable text.")
        return value


class BudgetWithStatusSerializer(BudgetSerializer):
    """A budget with its current period's figures (read-only): what its scope spent, what is
    left, and the percent used (the larger of the cost and token shares)."""

    spent_usd = serializers.SerializerMethodField()
    spent_tokens = serializers.SerializerMethodField()
    remaining_usd = serializers.SerializerMethodField()
    used_pct = serializers.SerializerMethodField()
    period_start = serializers.SerializerMethodField()
    period_end = serializers.SerializerMethodField()
    status_end_user = serializers.SerializerMethodField(
        help_text="User budgets: the end user the figures are for (`?user=`, else the one who "
        "spent most this period); null for other scopes or when nobody spent."
    )
    top_users = serializers.SerializerMethodField(
        help_text="User budgets: the period's biggest spenders (at most 10); null otherwise."
    )

    class Meta(BudgetSerializer.Meta):
        fields = [
            *BudgetSerializer.Meta.fields,
            "spent_usd",
            "spent_tokens",
            "remaining_usd",
            "used_pct",
            "period_start",
            "period_end",
            "status_end_user",
            "top_users",
        ]

    def _status(self, budget: Budget) -> BudgetStatus:
        """Read once per response: a list page's budgets all at once."""
        cache = self.context.setdefault("budget_status", {})
        if budget.pk not in cache:
            listed = getattr(self.parent, "instance", None)
            user = self.context.get("status_end_user")
            cache.update(
                budget_statuses(budgets=list(listed) if listed else [budget], end_user=user)
            )
        return cache[budget.pk]

    def get_status_end_user(self, budget) -> str | None:
        return self._status(budget).end_user if budget.scope == Budget.Scope.USER else None

    @extend_schema_field(serializers.ListField(child=serializers.DictField(), allow_null=True))
    def get_top_users(self, budget) -> list[dict] | None:
        if budget.scope != Budget.Scope.USER:
            return None
        return [
            {
                "end_user": row["end_user"],
                "spent_usd": money_text(row["spent_usd"], min_places=2),
                "spent_tokens": row["spent_tokens"],
                "used_pct": money_text(row["used_pct"], min_places=2),
            }
            for row in self._status(budget).top_users
        ]

    def get_spent_usd(self, budget) -> str:
        return money_text(self._status(budget).spent_usd, min_places=2)

    def get_spent_tokens(self, budget) -> int:
        return self._status(budget).spent_tokens

    def get_remaining_usd(self, budget) -> str | None:
        return money_text(self._status(budget).remaining_usd, min_places=2)

    def get_used_pct(self, budget) -> str | None:
        return money_text(self._status(budget).used_pct, min_places=2)

    @extend_schema_field(serializers.DateTimeField())
    def get_period_start(self, budget) -> str:
        return self._status(budget).period_start.isoformat()

    @extend_schema_field(serializers.DateTimeField())
    def get_period_end(self, budget) -> str:
        return self._status(budget).period_end.isoformat()


class UsageFilterSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, max_length=260)
    provider = serializers.CharField(required=False, max_length=64)
    tag = serializers.CharField(required=False, max_length=200)
    status = serializers.ChoiceField(choices=UsageEvent.Status.choices, required=False)
    config = serializers.IntegerField(required=False, min_value=1, help_text="Config id.")
    key = serializers.IntegerField(required=False, min_value=1, help_text="API key id.")
    user = serializers.CharField(required=False, max_length=128, help_text="End user.")
    start = serializers.DateField(required=False, help_text="First local day (inclusive).")
    end = serializers.DateField(required=False, help_text="Last local day (inclusive).")

    def validate(self, attrs):
        for field in ("start", "end"):
            value = attrs.get(field)
            if value is not None and not 2000 <= value.year <= 2999:
                raise serializers.ValidationError({field: ["Must be between 2000 and 2999."]})
        start, end = attrs.get("start"), attrs.get("end")
        if start and end:
            if start > end:
                raise serializers.ValidationError({"end": ["Must not be before start."]})
            if end - start > timedelta(days=MAX_RANGE_DAYS):
                raise serializers.ValidationError(
                    {"end": [f"The range may span at most {MAX_RANGE_DAYS} days."]}
                )
        return attrs


class UsageQuerySerializer(UsageFilterSerializer):
    group_by = serializers.ChoiceField(choices=GROUP_BY, default="day")


class UsageTotalsSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    cost_usd = serializers.SerializerMethodField()

    def get_cost_usd(self, row) -> str:
        return money_text(row["cost_usd"], min_places=2)


# A usage row's group key (only the dimensions grouped by are in a row). No docstring here or
# below: the schema would take it as UsageRow's description.
class _UsageRowDimensions(serializers.Serializer):
    day = serializers.CharField(required=False)
    month = serializers.CharField(required=False)
    model = serializers.CharField(required=False, allow_blank=True)
    provider = serializers.CharField(required=False, allow_blank=True)
    config = serializers.IntegerField(required=False, allow_null=True)
    config_name = serializers.CharField(required=False, allow_null=True)
    key = serializers.IntegerField(required=False, allow_null=True)
    key_name = serializers.CharField(required=False, allow_null=True)
    key_prefix = serializers.CharField(required=False, allow_null=True)
    tag = serializers.CharField(required=False)
    user = serializers.CharField(required=False, allow_blank=True)


# One group: its dimensions, then its totals (DRF keeps the bases' field order).
class UsageRowSerializer(_UsageRowDimensions, UsageTotalsSerializer):
    def to_representation(self, instance):
        data = super().to_representation(instance)
        return {key: value for key, value in data.items() if key in instance or key == "cost_usd"}


class UsageAggregateSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    group_by = serializers.CharField()
    timezone = serializers.CharField()
    results = UsageRowSerializer(many=True)
    totals = UsageTotalsSerializer()


class UsageEventSerializer(serializers.ModelSerializer):
    api_key = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    api_key_prefix = serializers.CharField(
        source="api_key.prefix", read_only=True, default=None, allow_null=True
    )
    config = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    config_name = serializers.CharField(
        source="config.name", read_only=True, default=None, allow_null=True
    )
    cost_usd = serializers.SerializerMethodField()
    saved_usd = serializers.SerializerMethodField()
    attempts = serializers.JSONField(read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = UsageEvent
        fields = [
            "request_id",
            "created_at",
            "api_key",
            "api_key_prefix",
            "config",
            "config_name",
            "requested_model",
            "model",
            "provider",
            "key_source",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "cost_usd",
            "saved_usd",
            "latency_ms",
            "status",
            "fallback",
            "attempts",
            "route_reason",
            "tags",
            "error_code",
            "end_user",
        ]
        read_only_fields = fields

    def get_cost_usd(self, event) -> str:
        return money_text(event.cost_usd, min_places=2)

    def get_saved_usd(self, event) -> str:
        return money_text(event.saved_usd, min_places=2)


class ExportSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    total_cost_usd = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = BillingExport
        fields = [
            "id",
            "tenant",
            "month",
            "version",
            "scheduled",
            "status",
            "row_count",
            "total_cost_usd",
            "checksum_sha256",
            "error",
            "created_at",
            "completed_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_total_cost_usd(self, export) -> str:
        return money_text(export.total_cost_usd, min_places=2)

    def get_download_url(self, export) -> str | None:
        if export.status != BillingExport.Status.READY:
            return None
        return f"/api/v1/exports/{export.pk}/download/"


class ExportCreateSerializer(serializers.Serializer):
    month = serializers.CharField(max_length=7, help_text="YYYY-MM, e.g. 2026-10.")

    def validate_month(self, value: str) -> str:
        if not MONTH_RE.match(value) or not 2000 <= int(value[:4]) <= 2999:
            raise serializers.ValidationError("Must look like 2026-10.")
        return value
