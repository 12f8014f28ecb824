"""A real Celery worker process on the Redis broker against the test database (slow)."""

import os
import signal
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from billing.models import DailyRollup, RollupState, UsageEvent
from billing.tests.test_budget_support import make_event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _db_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _start_worker(tmp_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing.tests.test_worker_settings",
        "DATABASE_URL": _db_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    log = open(tmp_path / f"worker-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
    return subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _wait(predicate, timeout=40.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def worker_env(redis_client):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs a shared database server (DATABASE_URL)")
    return redis_client


def _enqueue_events(client, tenant, *, prefix: str, count: int, cost: str, at: datetime) -> None:
    """`count` usage records on the Redis stream, as a gateway's flush writes them."""
    from billing.services.usage import STREAM_KEY

    for n in range(count):
        record = {
            "request_id": f"{prefix}-{n}",
            "tenant_id": tenant.pk,
            "model": "gpt-4o-mini",
            "provider": "openai",
            "key_source": "platform",
            "input_tokens": 10,
            "output_tokens": 5,
            "cost_usd": cost,
            "status": "success",
            "created_at": at.isoformat(),
        }
        client.xadd(STREAM_KEY, {"e": orjson.dumps(record)})


def test_worker_ingests_usage_and_rolls_up(tenant, worker_env, tmp_path):
    from billing.tasks import ingest_usage, rollup_tenant

    at = datetime.now(UTC) - timedelta(days=2)
    _enqueue_events(worker_env, tenant, prefix="w", count=3, cost="0.0010000001", at=at)
    worker = _start_worker(tmp_path)
    try:
        ingest_usage.delay()
        ingest_usage.delay()  # a duplicate delivery changes nothing
        _wait(lambda: UsageEvent.objects.filter(tenant=tenant).count() == 3, what="ingestion")
        rollup_tenant.delay(tenant.pk)
        _wait(
            lambda: RollupState.objects.filter(
                tenant=tenant, rolled_through__isnull=False
            ).exists(),
            what="rollup",
        )
    finally:
        _stop(worker)
    row = DailyRollup.objects.get(tenant=tenant)
    assert (row.requests, row.cost_usd) == (3, Decimal("0.0030000003"))


def test_one_task_run_drains_more_than_a_batch(tenant, worker_env, tmp_path):
    """One `ingest_usage` run stores everything waiting, batch after batch (not one batch per
    scheduled run, which a gateway above 1,000 requests a second outran)."""
    from billing.services.usage import STREAM_KEY
    from billing.tasks import ingest_usage

    _enqueue_events(
        worker_env, tenant, prefix="d", count=250, cost="0.0000010000", at=datetime.now(UTC)
    )
    assert worker_env.xlen(STREAM_KEY) == 250
    worker = _start_worker(tmp_path)
    try:
        ingest_usage.delay(batch_size=100)  # one run; no result backend to wait on
        _wait(lambda: worker_env.xlen(STREAM_KEY) == 0, timeout=30, what="the stream drained")
    finally:
        _stop(worker)
    assert UsageEvent.objects.filter(tenant=tenant).count() == 250
    assert worker_env.xlen(STREAM_KEY) == 0


def test_worker_killed_mid_rollup_loses_and_duplicates_nothing(tenant, worker_env, tmp_path):
    from billing.tasks import rollup_tenant

    day = datetime(2026, 11, 10, 12, tzinfo=UTC)
    for n in range(40):
        make_event(tenant, at=day + timedelta(minutes=n), cost="0.01", model=f"m{n % 4}")
    # A stale row for one bucket that a concurrent transaction holds locked: the worker's upsert
    # blocks on it in the middle of the rollup, and is killed there.
    stale = DailyRollup.objects.create(
        tenant=tenant,
        day=date(2026, 11, 10),
        model="m0",
        provider="openai",
        key_source="platform",
        status="success",
        requests=1,
        cost_usd=Decimal("9"),
    )
    locker = psycopg.connect(_db_url().replace("postgres://", "postgresql://"), autocommit=False)
    worker = _start_worker(tmp_path)
    try:
        locker.execute("SELECT id FROM billing_dailyrollup WHERE id = %s FOR UPDATE", [stale.pk])
        rollup_tenant.delay(tenant.pk)

        def worker_blocked():
            with psycopg.connect(_db_url().replace("postgres://", "postgresql://")) as probe:
                return (
                    probe.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                        "AND wait_event_type = 'Lock' AND query ILIKE %s",
                        [settings.DATABASES["default"]["NAME"], "%billing_dailyrollup%"],
                    ).fetchone()[0]
                    > 0
                )

        _wait(worker_blocked, what="the worker to block mid-rollup")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        locker.rollback()
        # Nothing of the killed run was committed.
        _wait(lambda: not _blocked_backends(), timeout=10, what="the killed backend to end")
        assert DailyRollup.objects.count() == 1
        assert DailyRollup.objects.get().cost_usd == Decimal("9")
        assert not RollupState.objects.filter(tenant=tenant, rolled_through__isnull=False).exists()
        worker = _start_worker(tmp_path)  # the unacknowledged task is delivered again
        _wait(
            lambda: RollupState.objects.filter(
                tenant=tenant, rolled_through__isnull=False
            ).exists(),
            timeout=60,
            what="the redelivered rollup",
        )
    finally:
        locker.close()
        _stop(worker)
    rows = DailyRollup.objects.filter(tenant=tenant, day=date(2026, 11, 10))
    assert rows.count() == 4
    assert all(r.requests == 10 and r.cost_usd == Decimal("0.1") for r in rows)


def _blocked_backends() -> int:
    with psycopg.connect(_db_url().replace("postgres://", "postgresql://")) as probe:
        return probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
            "AND query ILIKE %s AND pid <> pg_backend_pid()",
            [settings.DATABASES["default"]["NAME"], "%billing_dailyrollup%"],
        ).fetchone()[0]
