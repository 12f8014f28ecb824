"""PostgreSQL goes down (every backend killed, as in a crash) while requests flow, and comes back
a few seconds later: the gateway keeps serving warm tenants, and every request's usage event is
written exactly once when the database is back. A real gateway process on a private cluster,
once with the Redis stream and a Celery worker between them, once on the embedded default
(the in-process batch written by the gateway itself)."""

import asyncio

import pytest

from tests.faults.stack import (
    Traffic,
    celery_client,
    gateway,
    seed,
    stack_env,
    start_worker,
    stop_process,
    wait_until,
)
from tests.support.mock_upstreams import Ok

pytestmark = pytest.mark.slow

REQUESTS = 480
OUTAGE_SECONDS = 3.0


async def _traffic_through_an_outage(traffic: Traffic, pg, *, tick=None) -> None:
    async def outage() -> None:
        await traffic.reached(REQUESTS // 5)
        await asyncio.to_thread(pg.stop)
        served_before = traffic.progress
        await asyncio.sleep(OUTAGE_SECONDS)
        assert traffic.progress > served_before, "no request was served while PostgreSQL was down"
        await asyncio.to_thread(pg.start)

    async def ticker() -> None:  # what beat does every 5 s, faster
        while traffic.progress < traffic.total:
            await asyncio.to_thread(tick)
            await asyncio.sleep(0.5)

    jobs = [traffic.run(), outage()]
    if tick is not None:
        jobs.append(ticker())
    await asyncio.gather(*jobs)


def _stored(pg, database: str) -> tuple[int, set[str]]:
    rows = pg.query("SELECT request_id FROM billing_usageevent", database=database)
    return len(rows), {r[0] for r in rows}


@pytest.mark.parametrize("with_redis", [True, False], ids=["stream+worker", "embedded"])
def test_postgres_outage_during_ingestion_loses_and_doubles_nothing(
    with_redis, request, private_postgres, openai_upstream, tmp_path
):
    database = f"fault_pg_outage_{int(with_redis)}"
    redis = request.getfixturevalue("private_redis") if with_redis else None
    env = stack_env(
        database_url=private_postgres.create_database(database),
        redis_url=redis.url if redis else None,
        upstreams={"openai": openai_upstream.base_url},
        state_dir=tmp_path,
    )
    rows = seed(env)
    # Each answer takes a moment, so the traffic outlasts the outage.
    openai_upstream.script(*[Ok(delay=0.04)] * (REQUESTS + 10))
    worker = start_worker(env=env, log_dir=tmp_path) if redis else None
    tasks = celery_client(redis.url) if redis else None

    def tick() -> None:
        tasks.send_task("billing.ingest_usage")

    try:
        with gateway(env=env, log_dir=tmp_path) as (url, _process):
            traffic = Traffic(url, rows["keys"]["main"], total=REQUESTS, concurrency=8)
            asyncio.run(traffic.reached(0))  # (a loop for the warm-up below)
            warm = Traffic(url, rows["keys"]["main"], total=2, concurrency=1)
            asyncio.run(warm.run())  # snapshots loaded before the database goes
            asyncio.run(
                _traffic_through_an_outage(traffic, private_postgres, tick=tick if redis else None)
            )
            assert not traffic.failures
            assert {r.status_code for r in traffic.responses} == {200}
            expected = traffic.request_ids() | warm.request_ids()

            def all_stored():
                if tasks is not None:
                    tick()
                return _stored(private_postgres, database)[0] >= len(expected)

            wait_until(all_stored, timeout=25, interval=0.5, what="every event to be stored")
    finally:
        if worker is not None:
            stop_process(worker)
    count, stored = _stored(private_postgres, database)
    assert count == len(expected) == REQUESTS + 2
    assert stored == expected
