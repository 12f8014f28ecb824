"""Admin for usage, budgets, alerts, rollups and exports, scoped per tenant.

Usage events, alerts, rollups and exports are records the system writes: read-only here, for
operators too. Budgets are tenant settings that tenant managers edit.
"""

from django.contrib import admin
from django.contrib.admin import AllValuesFieldListFilter
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.utils import parse_date_str

from billing.models import (
    AlertDelivery,
    BillingExport,
    Budget,
    BudgetAlert,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    DailyUserRollup,
    MonthlyRollup,
    UsageEvent,
)
from tenants.admin_scoping import ScopedRelatedFilter, TenantScopedAdminMixin, is_operator
from tenants.forms import PrettyJSONField


class DayRangeFilter(RangeDateFilter):
    """A from/to range of whole days on a datetime column (days in UTC, the server's zone)."""

    def queryset(self, request, queryset):
        filters = {}
        for suffix, lookup in (("_from", "date__gte"), ("_to", "date__lte")):
            value = self.used_parameters.get(f"{self.parameter_name}{suffix}")
            day = parse_date_str(value) if isinstance(value, str) else None
            if day is not None:
                filters[f"{self.field_path}__{lookup}"] = day
        return queryset.filter(**filters)


class ReadOnlyScopedAdmin(TenantScopedAdminMixin, ModelAdmin):
    read_only = True

    def get_actions(self, request):
        return {}


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "created_at",
        "tenant",
        "model",
        "provider",
        "status",
        "key_source",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
        "fallback",
    ]
    list_filter = [
        "status",
        ("provider", AllValuesFieldListFilter),
        ("model", AllValuesFieldListFilter),
        ("created_at", DayRangeFilter),
        ("tenant", ScopedRelatedFilter),
        "key_source",
        "fallback",
    ]
    list_filter_submit = True
    list_select_related = ["tenant"]
    search_fields = ["request_id", "model", "requested_model"]
    show_full_result_count = False


@admin.register(Budget)
class BudgetAdmin(TenantScopedAdminMixin, ModelAdmin):
    list_display = [
        "tenant",
        "scope",
        "scope_target",
        "period",
        "mode",
        "limit_usd",
        "limit_tokens",
        "is_active",
    ]
    list_filter = [("tenant", ScopedRelatedFilter), "scope", "period", "mode", "is_active"]
    list_select_related = ["tenant", "config", "api_key"]
    readonly_fields = ["created_at", "updated_at"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "alert_thresholds":
            kwargs["form_class"] = PrettyJSONField
            kwargs.setdefault("help_text", "Percentages that send an alert, e.g. [50, 80, 100].")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="applies to")
    def scope_target(self, obj: Budget) -> str:
        return obj.scope_label


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "created_at",
        "tenant",
        "budget",
        "period_key",
        "threshold",
        "used_pct",
        "spent_usd",
        "webhook_sent_at",
        "email_sent_at",
    ]
    list_filter = [("tenant", ScopedRelatedFilter), "threshold"]
    list_select_related = ["tenant", "budget"]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "at",
        "tenant",
        "alert",
        "attempt",
        "url_host",
        "payload_format",
        "outcome",
        "status_code",
        "duration_ms",
    ]
    list_filter = [("tenant", ScopedRelatedFilter), "outcome"]
    list_select_related = ["tenant", "alert"]
    search_fields = ["url_host"]


# A rollup bucket's columns after its day or month.
_BUCKET_COLUMNS = ["tenant", "model", "provider", "key_source", "status", "requests", "cost_usd"]


class InternalTableAdmin(ReadOnlyScopedAdmin):
    """Rollups are the system's internal tables: operators inspect them; tenant admins read the
    same figures in the usage explorer and dashboards (/console/), not in their menu."""

    def has_module_permission(self, request):
        return is_operator(request)

    def has_view_permission(self, request, obj=None):
        return is_operator(request)


class RollupAdmin(InternalTableAdmin):
    list_filter = [("tenant", ScopedRelatedFilter), "key_source", "status"]
    list_select_related = ["tenant"]
    search_fields = ["model", "provider"]


@admin.register(DailyRollup)
class DailyRollupAdmin(RollupAdmin):
    list_display = ["day", *_BUCKET_COLUMNS]
    date_hierarchy = "day"


@admin.register(MonthlyRollup)
class MonthlyRollupAdmin(RollupAdmin):
    list_display = ["month", *_BUCKET_COLUMNS]


@admin.register(DailyTagRollup)
class DailyTagRollupAdmin(InternalTableAdmin):
    list_display = ["day", "tenant", "tag", "model", "provider", "status", "requests", "cost_usd"]
    list_filter = [("tenant", ScopedRelatedFilter), "status"]
    list_select_related = ["tenant"]
    search_fields = ["tag", "model", "provider"]
    date_hierarchy = "day"


@admin.register(DailyTagSetRollup)
class DailyTagSetRollupAdmin(InternalTableAdmin):
    list_display = ["day", "tenant", "tags", "model", "provider", "status", "requests", "cost_usd"]
    list_filter = [("tenant", ScopedRelatedFilter), "status"]
    list_select_related = ["tenant"]
    search_fields = ["model", "provider"]
    date_hierarchy = "day"


@admin.register(DailyUserRollup)
class DailyUserRollupAdmin(InternalTableAdmin):
    list_display = [
        "day",
        "tenant",
        "end_user",
        "model",
        "provider",
        "status",
        "requests",
        "cost_usd",
    ]
    list_filter = [("tenant", ScopedRelatedFilter), "status"]
    list_select_related = ["tenant"]
    search_fields = ["end_user", "model", "provider"]
    date_hierarchy = "day"


@admin.register(BillingExport)
class BillingExportAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "month",
        "tenant",
        "version",
        "status",
        "row_count",
        "total_cost_usd",
        "created_at",
        "completed_at",
    ]
    list_filter = [("tenant", ScopedRelatedFilter), "status", "scheduled"]
    list_select_related = ["tenant"]


# Statements and credit notes register their admins in a module of their own.
from billing import admin_statements  # noqa: E402, F401
