"""Budget alerts: each threshold once per period; webhook retried; email sent."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core import mail

from billing.models import BudgetAlert
from billing.services.alerts import AlertDeliveryFailed, alert_deliver, alerts_evaluate
from billing.services.budget_specs import budget_cache_invalidate
from billing.tests.test_budget_support import make_budget, make_event


@pytest.fixture(autouse=True)
def _no_counters_of_earlier_tests(settings):
    """With Redis and SQLite, a tenant and budget of this test reuse an earlier test's ids (the
    rollback frees them) and would read that test's budget counters left in Redis: flushed."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        client.flushdb()
        client.close()


class _Hook:
    """A webhook receiver on 127.0.0.1 answering with the queued statuses, then 200."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.bodies = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    receiver = _Hook([500])
    yield receiver
    receiver.close()


@pytest.fixture(autouse=True)
def _no_cache():
    budget_cache_invalidate()


@pytest.mark.django_db
def test_each_threshold_fires_once_per_period(tenant, redis_client):
    budget = make_budget(tenant, period="daily", limit_usd="1.00", alert_thresholds=[50, 80, 100])
    # Today's noon, not a fixed date: Redis expires a seeded counter 3 days after its period
    # ends by its own clock, which time_machine does not move.
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    with time_machine.travel(now, tick=False):
        make_event(tenant, at=now, cost="0.55")
        assert len(alerts_evaluate(now=now)) == 1
        assert alerts_evaluate(now=now) == []  # the same period: nothing new
        make_event(tenant, at=now, cost="0.30")
        redis_client.flushdb()  # the counter reseeds from the database
        created = alerts_evaluate(now=now)
        assert [BudgetAlert.objects.get(pk=pk).threshold for pk in created] == [80]
    # The next local day is a new period.
    tomorrow = now + timedelta(days=1)
    with time_machine.travel(tomorrow, tick=False):
        make_event(tenant, at=tomorrow, cost="0.60")
        created = alerts_evaluate(now=tomorrow)
    period_keys = [BudgetAlert.objects.get(pk=pk).period_key for pk in created]
    assert period_keys == [tomorrow.date().isoformat()]  # noon UTC is the same day in Berlin
    assert BudgetAlert.objects.filter(budget=budget).count() == 3


@pytest.mark.django_db
def test_token_thresholds(tenant):
    make_budget(tenant, limit_usd=None, limit_tokens=1000, alert_thresholds=[50])
    now = datetime.now(UTC)
    make_event(tenant, at=now, cost="0", input_tokens=400, output_tokens=200)
    assert len(alerts_evaluate(now=now)) == 1


@pytest.mark.django_db
def test_webhook_is_retried_then_delivered_and_email_sent(tenant, hook):
    tenant.alert_webhook_url = hook.url
    tenant.alert_email = "ops@acme.test"
    tenant.save()
    make_budget(tenant, limit_usd="1.00", alert_thresholds=[50])
    now = datetime.now(UTC)
    make_event(tenant, at=now, cost="0.75")
    [alert_id] = alerts_evaluate(now=now)
    alert = alert_deliver(alert_id=alert_id)
    assert alert.webhook_sent_at is not None
    assert alert.delivery_attempts == 2
    assert len(hook.bodies) == 2  # 500, then 200
    assert hook.bodies[-1]["threshold_pct"] == 50
    assert hook.bodies[-1]["used_pct"] == "75.00"
    assert len(mail.outbox) == 1 and "50%" in mail.outbox[0].subject
    # Delivering again sends nothing twice.
    alert_deliver(alert_id=alert_id)
    assert len(hook.bodies) == 2 and len(mail.outbox) == 1


@pytest.mark.django_db
def test_webhook_failure_is_reported_for_a_later_retry(tenant):
    failing = _Hook([500, 502, 503])
    try:
        tenant.alert_webhook_url = failing.url
        tenant.save()
        make_budget(tenant, limit_usd="1.00", alert_thresholds=[10])
        now = datetime.now(UTC)
        make_event(tenant, at=now, cost="0.5")
        [alert_id] = alerts_evaluate(now=now)
        with pytest.raises(AlertDeliveryFailed):
            alert_deliver(alert_id=alert_id)
        alert = BudgetAlert.objects.get(pk=alert_id)
        assert alert.webhook_sent_at is None and "HTTP 503" in alert.last_error
        assert alert_deliver(alert_id=alert_id).webhook_sent_at is not None
    finally:
        failing.close()
