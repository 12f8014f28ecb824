"""The operator dashboard: spend and requests by tenant this month, provider health (breaker
state, recent error rate and latency), the ingestion backlog, and the last rollup and export
runs. Operators only; every figure is across tenants."""

from __future__ import annotations

from typing import Any

from django.db.models import Max, Min

from billing.admin_dashboard import month_totals_by_tenant
from billing.models import BillingExport, RollupState
from billing.services.usage import STREAM_KEY
from core.redis import get_redis
from llm.api.selectors import provider_health_list

RECENT_EXPORTS = 10


def ingestion_backlog() -> dict[str, Any]:
    """Usage records waiting in the Redis stream for the ingest task. On the embedded default
    each web process buffers its own records in memory (flushed within a second): no shared
    backlog to read."""
    client = get_redis()
    if client is None:
        return {"source": "embedded", "waiting": None}
    try:
        return {"source": "redis", "waiting": int(client.xlen(STREAM_KEY))}
    except Exception as exc:  # an unreachable Redis is a figure here, not a crash page
        return {"source": "redis", "waiting": None, "error": type(exc).__name__}


def rollup_runs() -> dict[str, Any]:
    return RollupState.objects.aggregate(
        last_run=Max("updated_at"),
        oldest_watermark=Min("rolled_through"),
        newest_watermark=Max("rolled_through"),
    )


def operator_dashboard() -> dict[str, Any]:
    tenants = month_totals_by_tenant()
    return {
        "tenants": tenants,
        "total_cost": sum((t["cost"] for t in tenants), 0),
        "total_requests": sum(t["requests"] for t in tenants),
        "providers": provider_health_list(tenant=None),
        "backlog": ingestion_backlog(),
        "rollups": rollup_runs(),
        "exports": list(BillingExport.objects.select_related("tenant")[:RECENT_EXPORTS]),
    }
