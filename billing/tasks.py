"""Celery tasks: thin, each calls one service. Every task is idempotent (acks_late is on: a task
whose worker dies is delivered again and must neither lose nor duplicate anything). The
periodic ones mark their last success for /metrics (the task_last_success_timestamp gauge)."""

import logging

from celery import shared_task

from billing.services import alerts, exports, rollups, statements
from billing.services.budget_gauges import budget_gauges_refresh
from billing.services.counters_rebuild import counters_rebuild
from billing.services.usage import INGEST_BATCH, usage_events_drain
from core.metrics import task_success_mark
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@shared_task(name="billing.ingest_usage")
def ingest_usage(batch_size: int = INGEST_BATCH) -> int:
    """Move the hot path's usage buffer into UsageEvent rows (idempotent by request id), batch
    after batch until the stream is drained or the run's time is up."""

    count = usage_events_drain(batch_size=batch_size)
    task_success_mark(task="ingest_usage")
    return count


@shared_task(name="billing.rollup_daily")
def rollup_daily() -> int:
    count = rollups.rollups_refresh_all()
    task_success_mark(task="rollup_daily")
    return count


@shared_task(name="billing.rollup_tenant")
def rollup_tenant(tenant_id: int) -> int:

    return rollups.rollups_refresh_tenant(tenant=Tenant.objects.get(pk=tenant_id))


@shared_task(name="billing.rollup_monthly")
def rollup_monthly() -> int:
    count = rollups.rollups_recompute_months()
    task_success_mark(task="rollup_monthly")
    return count


@shared_task(name="billing.evaluate_budgets")
def evaluate_budgets() -> int:
    """Alerts for crossed thresholds; then the utilisation gauges from the same counters."""
    created = alerts.alerts_evaluate(on_created=lambda alert_id: deliver_alert.delay(alert_id))
    budget_gauges_refresh()
    task_success_mark(task="evaluate_budgets")
    return len(created)


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
    generated = exports.export_generate(export_id=export_id)
    task_success_mark(task="generate_export")
    return generated


@shared_task(name="billing.advance_statements")
def advance_statements() -> int:
    """Open, close and (after the grace window) finalize the tenants' monthly statements."""
    count = len(statements.statements_advance())
    task_success_mark(task="advance_statements")
    return count
