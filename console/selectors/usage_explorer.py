"""The usage explorer's reads: the query in the URL, checked by the usage API's own serializer,
the aggregate (rollups + open days, as the API), and the options its filters offer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from billing.api.serializers import UsageQuerySerializer
from billing.models import UsageEvent
from billing.selectors.usage_aggregates import GROUP_BY, usage_aggregate
from billing.selectors.usage_events import local_range, usage_event_list
from billing.selectors.usage_filters import UsageFilters
from llm.models import LLMModel, Provider, RoutingConfig
from tenants.models import TenantApiKey

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date

    from django.db.models import QuerySet

    from tenants.models import Tenant

FILTER_FIELDS = ("model", "provider", "config", "key", "tag", "status")


@dataclass
class ExplorerQuery:
    start: date | None = None
    end: date | None = None
    group_by: str = "day"
    filters: UsageFilters = field(default_factory=UsageFilters)
    errors: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)


def explorer_query(*, tenant: Tenant, params: Mapping[str, str]) -> ExplorerQuery:
    """The query string, validated as `GET /api/v1/usage/` validates it; empty fields are
    unset. Default range: this month so far (the tenant's days)."""
    raw = {k: v.strip() for k, v in params.items() if isinstance(v, str) and v.strip()}
    serializer = UsageQuerySerializer(data={k: v for k, v in raw.items() if k != "format"})
    if not serializer.is_valid():
        errors = {k: [str(m) for m in v] for k, v in serializer.errors.items()}
        return ExplorerQuery(errors=errors, raw=raw)
    data = serializer.validated_data
    today = timezone.localtime(timezone.now(), tenant.tzinfo).date()
    end = data.get("end") or max(today, data.get("start") or today)
    return ExplorerQuery(
        start=data.get("start") or end.replace(day=1),
        end=end,
        group_by=data["group_by"],
        filters=UsageFilters(
            model=data.get("model"),
            provider=data.get("provider"),
            tag=data.get("tag"),
            status=data.get("status"),
            config_id=data.get("config"),
            api_key_id=data.get("key"),
        ),
        raw=raw,
    )


def explorer_aggregate(*, tenant: Tenant, query: ExplorerQuery) -> dict[str, Any]:
    return usage_aggregate(
        tenant=tenant,
        start=query.start,
        end=query.end,
        group_by=query.group_by,
        filters=query.filters,
    )


def explorer_events(*, tenant: Tenant, query: ExplorerQuery) -> QuerySet[UsageEvent]:
    """The raw events behind the query, newest first (for the streamed CSV)."""
    start_at, end_at = local_range(tenant=tenant, start=query.start, end=query.end)
    return usage_event_list(tenant=tenant, start=start_at, end=end_at, filters=query.filters)


def group_label(row: dict, group_by: str) -> str:
    if group_by == "config":
        return row.get("config_name") or "(no config)"
    if group_by == "key":
        return f"{row['key_name']} ({row['key_prefix']}…)" if row.get("key") else "(no key)"
    return str(row.get(group_by) or "(none)")


def explorer_options(*, tenant: Tenant) -> dict[str, Any]:
    """What the filters offer: the catalog's providers and models, the tenant's configs and
    keys, the statuses and groupings."""
    return {
        "group_by": GROUP_BY[:],
        "statuses": UsageEvent.Status.values,
        "providers": list(Provider.objects.order_by("slug").values_list("slug", flat=True)),
        "models": [
            f"{p}/{m}"
            for p, m in LLMModel.objects.order_by("provider__slug", "model_id").values_list(
                "provider__slug", "model_id"
            )
        ],
        "configs": list(RoutingConfig.objects.filter(tenant=tenant).values_list("pk", "name")),
        "keys": list(
            TenantApiKey.objects.filter(tenant=tenant).values_list("pk", "name", "prefix")
        ),
    }
