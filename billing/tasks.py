"""Celery tasks: thin, each calls one service. Every task is idempotent (acks_late is on: a task
whose worker dies is delivered again and must neither lose nor duplicate anything)."""

import logging

from celery import shared_task

from billing.services import alerts, exports, rollups
from billing.services.counters_rebuild import counters_rebuild
from billing.services.usage import usage_events_ingest
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@shared_task(name="billing.ingest_usage")
def ingest_usage(max_events: int = 5000) -> int:
    """Move the hot path's usage buffer into UsageEvent rows (idempotent by request id)."""

    return usage_events_ingest(max_events=max_events)


@shared_task(name="billing.rollup_daily")
def rollup_daily() -> int:
    return rollups.rollups_refresh_all()


@shared_task(name="billing.rollup_tenant")
def rollup_tenant(tenant_id: int) -> int:

    return rollups.rollups_refresh_tenant(tenant=Tenant.objects.get(pk=tenant_id))


@shared_task(name="billing.rollup_monthly")
def rollup_monthly() -> int:
    return rollups.rollups_recompute_months()


@shared_task(name="billing.evaluate_budgets")
def evaluate_budgets() -> int:
    return len(alerts.alerts_evaluate(on_created=lambda alert_id: deliver_alert.delay(alert_id)))


@shared_task(
    name="billing.deliver_alert",
    autoretry_for=(alerts.AlertDeliveryFailed,),
    retry_backoff=30,
    retry_backoff_max=900,
    max_retries=8,
)
def deliver_alert(alert_id: int) -> None:
    alerts.alert_deliver(alert_id=alert_id)


@shared_task(name="billing.rebuild_counters")
def rebuild_counters() -> int:
    return counters_rebuild()


@shared_task(name="billing.purge_usage")
def purge_usage() -> int:
    return rollups.usage_retention_purge()


@shared_task(name="billing.schedule_exports")
def schedule_exports() -> int:
    """Create due scheduled exports (once per tenant-month), then generate each in its own task."""
    export_ids = exports.exports_schedule_due(generate=False)
    for export_id in export_ids:
        generate_export.delay(export_id)
    return len(export_ids)


@shared_task(name="billing.generate_export")
def generate_export(export_id: int) -> bool:
    return exports.export_generate(export_id=export_id)
