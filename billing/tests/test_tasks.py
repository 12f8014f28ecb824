"""The Celery tasks, run eagerly here (a real worker runs them in test_worker.py)."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from billing import tasks
from billing.models import BillingExport, BudgetAlert, DailyRollup, MonthlyRollup
from billing.services.budget_specs import budget_cache_invalidate
from billing.tests.test_budget_support import make_budget, make_event
from config.celery import app


@pytest.fixture(autouse=True)
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    budget_cache_invalidate()
    yield
    app.conf.task_always_eager = previous


@pytest.mark.django_db(transaction=True)
def test_evaluate_budgets_queues_one_delivery_per_alert(tenant):
    tenant.alert_email = "ops@acme.test"
    tenant.save()
    make_budget(tenant, limit_usd="1.00", alert_thresholds=[50, 100])
    make_event(tenant, at=datetime.now(UTC), cost="0.60")
    assert tasks.evaluate_budgets.delay().get() == 1
    assert tasks.evaluate_budgets.delay().get() == 0
    alert = BudgetAlert.objects.get()
    assert alert.threshold == 50 and alert.email_sent_at is not None
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_schedule_exports_twice_generates_once(tenant):
    from tenants.models import Tenant

    Tenant.objects.filter(pk=tenant.pk).update(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    make_event(tenant, at=datetime(2020, 2, 3, tzinfo=UTC), cost="1")
    tasks.schedule_exports.delay().get()
    tasks.schedule_exports.delay().get()
    scheduled = BillingExport.objects.filter(scheduled=True)
    assert scheduled.count() == 1
    assert scheduled.get().status == "ready"


@pytest.mark.django_db
def test_rollup_purge_and_rebuild_tasks(tenant, settings):
    settings.TOLLGATE_USAGE_RETENTION_DAYS = 90
    make_event(tenant, at=datetime(2026, 1, 5, 12, tzinfo=UTC), cost="0.5")
    make_event(tenant, at=datetime.now(UTC), cost="0.25")
    assert tasks.rollup_daily.delay().get() >= 2
    MonthlyRollup.objects.all().delete()
    assert tasks.rollup_monthly.delay().get() >= 1  # the current month's bucket, recomputed
    this_month = datetime.now(UTC).astimezone(tenant.tzinfo).strftime("%Y-%m")
    assert MonthlyRollup.objects.get(month=this_month).cost_usd == Decimal("0.25")
    assert tasks.purge_usage.delay().get() == 1  # older than 90 days and rolled up
    assert DailyRollup.objects.get(day__month=1).cost_usd == Decimal("0.5")
    make_budget(tenant, limit_usd="1")
    assert tasks.rebuild_counters.delay().get() == 1


@pytest.mark.django_db
def test_commands(tenant):
    make_event(tenant, at=datetime(2026, 1, 5, 12, tzinfo=UTC), cost="0.5")
    out = StringIO()
    call_command("billing_rollup", "--tenant", "acme", stdout=out)
    call_command("billing_export", "2026-01", "--tenant", "acme", stdout=out)
    call_command("rebuild_budget_counters", stdout=out)
    assert "cost_usd=0.5" in out.getvalue()
    assert BillingExport.objects.get().row_count == 1
