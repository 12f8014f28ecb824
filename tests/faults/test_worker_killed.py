"""A Celery worker SIGKILLed in the middle of an ingestion batch (a real `celery -A config worker`
on a private PostgreSQL and Redis): a new worker takes over what the dead one had read but not
acknowledged, and every enqueued usage event is stored exactly once."""

from datetime import UTC, datetime

import orjson
import pytest

from billing.services.usage import GROUP, STREAM_KEY
from billing.usage_record import UsageRecord
from tests.faults.stack import celery_client, seed, stack_env, start_worker, wait_until

pytestmark = pytest.mark.slow

EVENTS = 24_000
BATCH = 3_000


def _enqueue(client, tenant_id: int, count: int) -> set[str]:
    """XADD `count` records as the gateway's buffer writes them."""
    ids, pipe, now = set(), client.pipeline(transaction=False), datetime.now(UTC)
    for n in range(count):
        record = UsageRecord(
            request_id=f"kill-{n:06d}",
            tenant_id=tenant_id,
            status="success",
            created_at=now,
            model="openai/gpt-4o-mini",
            provider="openai",
            input_tokens=10,
            output_tokens=5,
            attempts=({"model": "openai/gpt-4o-mini", "status": "ok", "latency_ms": 3},),
        )
        ids.add(record.request_id)
        pipe.xadd(STREAM_KEY, {"e": orjson.dumps(record.to_dict())})
        if n % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    return ids


def _batch_in_flight(pg, database: str) -> bool:
    """The worker's COPY or upsert into billing_usageevent is running right now."""
    rows = pg.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
        "AND pid <> pg_backend_pid() AND (query ILIKE %s OR query ILIKE %s)",
        [database, "%usage_ingest%", '%INSERT INTO "billing_usageevent"%'],
    )
    return rows[0][0] > 0


def _stored(pg, database: str) -> tuple[int, int]:
    [(total, unique)] = pg.query(
        "SELECT count(*), count(DISTINCT request_id) FROM billing_usageevent", database=database
    )
    return total, unique


def test_worker_killed_mid_batch_loses_and_doubles_nothing(
    private_postgres, private_redis, tmp_path
):
    database = "fault_worker_killed"
    env = stack_env(
        database_url=private_postgres.create_database(database),
        redis_url=private_redis.url,
        upstreams={},
        state_dir=tmp_path,
        settings_module="tests.faults.worker_settings",
    )
    rows = seed(env)
    redis = private_redis.client()
    enqueued = _enqueue(redis, rows["tenant_id"], EVENTS)
    tasks = celery_client(private_redis.url)

    def ingest(times: int) -> None:
        for _ in range(times):
            tasks.send_task("billing.ingest_usage", kwargs={"batch_size": BATCH})

    worker = start_worker(env=env, log_dir=tmp_path)
    replacement = None
    try:
        ingest(EVENTS // BATCH)
        wait_until(
            lambda: _batch_in_flight(private_postgres, database),
            timeout=25,
            interval=0.005,
            what="the worker to be writing a batch",
        )
        worker.kill()
        worker.wait(timeout=10)
        stored, _ = _stored(private_postgres, database)
        assert stored < EVENTS, "the kill came too late: everything was already ingested"
        # The dead consumer's entries are still pending in the stream: nothing was acknowledged
        # that was not committed.
        pending = redis.xpending(STREAM_KEY, GROUP)["pending"]
        assert pending > 0
        assert stored + redis.xlen(STREAM_KEY) >= EVENTS

        replacement = start_worker(env=env, log_dir=tmp_path)

        def all_stored():
            if _stored(private_postgres, database)[0] >= EVENTS:
                return True
            ingest(1)
            return False

        wait_until(all_stored, timeout=40, interval=1.0, what="the new worker to ingest all")
    finally:
        worker.kill()
        if replacement is not None:
            replacement.kill()
            replacement.wait(timeout=10)
    total, unique = _stored(private_postgres, database)
    assert (total, unique) == (EVENTS, EVENTS)
    stored_ids = {
        r[0]
        for r in private_postgres.query(
            "SELECT request_id FROM billing_usageevent", database=database
        )
    }
    assert stored_ids == enqueued
    assert redis.xpending(STREAM_KEY, GROUP)["pending"] == 0
