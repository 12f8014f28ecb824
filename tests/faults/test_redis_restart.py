"""Redis killed (SIGKILL: counters, holds and the usage stream gone) and started again on the
same port while requests flow through a gateway that uses it, against a strict budget: the
limit is never passed, no usage event is lost, and after the rebuild task the counter equals
the database truth. The gateway is the in-process uvicorn of the integration harness, on a
private redis-server; ingestion runs beside it as the worker would."""

import asyncio
import contextlib
import threading
import time
from decimal import Decimal

import pytest
import redis

from billing.models import Budget, UsageEvent
from billing.services.budget_specs import budget_cache_invalidate, tenant_budgets
from billing.services.counter_plans import counter_plans
from billing.services.counters_rebuild import counters_rebuild
from billing.services.micros import to_micros
from billing.services.spend_truth import plan_truth
from billing.services.usage import usage_buffer_flush, usage_events_ingest
from tests.faults.stack import Traffic, wait_until
from tests.support.mock_upstreams import Ok

pytestmark = pytest.mark.slow

LIMIT = Decimal("0.03")  # ~50 answers of ~$0.0006
REQUESTS = 150
BODY = {
    "model": "openai/gpt-4o-mini",
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "Say hello"}],
}


@contextlib.contextmanager
def _ingesting(interval: float = 0.3):
    """What the Celery worker does on its beat: drain the stream into the database."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(redis.RedisError):
                usage_events_ingest()
            stop.wait(interval)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _drain() -> int:
    usage_buffer_flush()
    while usage_events_ingest():
        pass
    return UsageEvent.objects.count()


@pytest.mark.parametrize("down_for", [0.0, 1.0], ids=["restart", "outage-1s"])
def test_redis_restart_mid_traffic_keeps_the_strict_budget_and_every_event(
    gw, private_redis, settings, down_for
):
    settings.REDIS_URL = private_redis.url
    gw.set_config(fallback_models=[])  # the worst case is this one model's
    Budget.objects.create(tenant=gw.tenant, period="daily", limit_usd=LIMIT, mode="strict")
    budget_cache_invalidate()
    # Answers cost about their worst case and take a moment: many are in flight at the kill.
    gw.upstreams["openai"].script(
        *[Ok(input_tokens=1, output_tokens=1000, delay=0.2)] * (REQUESTS + 10)
    )
    traffic = Traffic(gw.url, gw.secret, total=REQUESTS, concurrency=16, body=BODY)

    async def run() -> None:
        async def fault() -> None:
            await traffic.reached(12)
            await asyncio.to_thread(private_redis.restart, down_for=down_for)

        await asyncio.gather(traffic.run(), fault())

    with _ingesting():
        asyncio.run(run())
    assert not traffic.failures
    statuses = [r.status_code for r in traffic.responses]
    assert set(statuses) <= {200, 402}, statuses
    ok = [r for r in traffic.responses if r.status_code == 200]
    spent = sum(Decimal(r.headers["x-tollgate-cost-usd"]) for r in ok)
    assert len(ok) >= 20  # the budget was used, not refused wholesale after the restart
    assert spent <= LIMIT, f"{len(ok)} answers spent {spent} > {LIMIT}"

    # No event lost: the ones the stream held when Redis died included.
    wait_until(lambda: _drain() >= REQUESTS, timeout=20, what="every usage event")
    events = UsageEvent.objects.all()
    assert events.count() == REQUESTS
    assert {e.request_id for e in events} == traffic.request_ids()
    assert sum(e.cost_usd for e in events) == spent

    # The rebuild brings the counter to the database truth (and nothing is still held).
    counters_rebuild()
    budgets = tenant_budgets(tenant_id=gw.tenant.pk)
    [plan] = counter_plans(budgets=budgets, api_key_id=None, config_id=None)
    truth_micros, _ = plan_truth(plan=plan, tz=budgets.tz)
    assert truth_micros == to_micros(spent)
    client = private_redis.client()
    deadline = time.monotonic() + 5
    while int(client.hget(plan.key, "rm") or 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    counter = {k.decode(): int(v) for k, v in client.hgetall(plan.key).items()}
    # Settlements round each request up to a whole micro-dollar, the truth rounds the sum: the
    # counter is ahead by under one micro-dollar per request, never behind (micros.py).
    assert truth_micros <= counter["sm"] < truth_micros + len(ok)
    assert counter.get("rm", 0) == 0
