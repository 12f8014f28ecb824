"""The statements beat task: idempotent, and on the beat schedule."""

from datetime import UTC, datetime

import pytest
import time_machine

from billing import tasks
from billing.models import Statement
from config.celery import app
from config.schedules import BEAT_SCHEDULE


@pytest.fixture(autouse=True)
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_advance_statements_twice_finalizes_once(tenant):
    tenant.created_at = datetime(2026, 1, 1, tzinfo=UTC)
    tenant.save()
    with time_machine.travel(datetime(2026, 12, 5, tzinfo=UTC), tick=False):
        assert tasks.advance_statements.delay().get() == 1
        assert tasks.advance_statements.delay().get() == 0
    months = dict(Statement.objects.filter(tenant=tenant).values_list("month", "status"))
    assert months == {"2026-11": "finalized", "2026-12": "open"}
    assert Statement.objects.get(month="2026-11").number == "TG-2026-11-000001"
    assert "billing.advance_statements" in {entry["task"] for entry in BEAT_SCHEDULE.values()}
