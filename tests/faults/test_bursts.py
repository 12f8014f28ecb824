"""A burst of usage larger than every internal batch: more events than one ingestion run takes
(`usage_events_ingest`'s max_events), more than the writer's insert batch, arriving while the
in-process buffer is flushing. Exactly that many events are stored, each once, on the embedded
default (buffer -> database) and through the Redis stream (buffer -> stream -> ingestion)."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import UsageEvent
from billing.services import usage
from billing.usage_record import UsageRecord
from tests.faults.stack import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BURST = 12_345  # > max_events (5000) x 2, > the writer's 1000-row insert batches


async def _burst(tenant_id: int, count: int) -> None:
    """Enqueue as the gateway does, from its event loop: in slices that let the background
    flush run in between, so the burst lands in several flushes of different sizes."""
    now = datetime.now(UTC)
    for n in range(count):
        usage.usage_event_enqueue(
            record=UsageRecord(
                request_id=f"burst-{n:06d}",
                tenant_id=tenant_id,
                status="success",
                created_at=now,
                model="openai/gpt-4o-mini",
                provider="openai",
                input_tokens=3,
                output_tokens=2,
                cost_usd=Decimal("0.0000012345"),
            )
        )
        if n % 997 == 0:
            await asyncio.sleep(0.03)
    while usage._pending or any(not task.done() for task in usage._flushers.values()):
        await asyncio.sleep(0.05)


def _assert_exactly(tenant, count: int) -> None:
    events = UsageEvent.objects.filter(tenant=tenant)
    assert events.count() == count
    assert events.values("request_id").distinct().count() == count
    assert sum(e.cost_usd for e in events.only("cost_usd")) == Decimal("0.0000012345") * count


def test_burst_on_the_embedded_default_is_stored_exactly(tenant, settings):
    settings.REDIS_URL = ""
    asyncio.run(_burst(tenant.pk, BURST))
    _assert_exactly(tenant, BURST)


def test_burst_through_the_stream_is_ingested_exactly(tenant, settings, private_redis):
    settings.REDIS_URL = private_redis.url
    asyncio.run(_burst(tenant.pk, BURST))
    assert UsageEvent.objects.count() == 0  # all of it waits in the stream
    runs = []

    def drained():
        runs.append(usage.usage_events_ingest())
        return runs[-1] == 0 and UsageEvent.objects.count() >= BURST

    wait_until(drained, timeout=60, interval=0, what="ingestion to drain the stream")
    assert max(runs) == 5000  # each run took one full batch: the burst needed several
    _assert_exactly(tenant, BURST)
    client = private_redis.client()
    assert client.xlen(usage.STREAM_KEY) == 0
    assert client.xpending(usage.STREAM_KEY, usage.GROUP)["pending"] == 0


def test_one_drain_takes_a_burst_larger_than_a_batch(tenant, settings, private_redis):
    """The scheduled task drains: one run per 5 s taking one batch capped ingestion at 1,000
    events a second, which a busy gateway outran."""
    settings.REDIS_URL = private_redis.url
    asyncio.run(_burst(tenant.pk, BURST))
    assert usage.usage_events_drain(max_seconds=0) == usage.INGEST_BATCH  # time up: one batch
    assert usage.usage_events_drain(max_seconds=60) == BURST - usage.INGEST_BATCH
    _assert_exactly(tenant, BURST)
    assert private_redis.client().xlen(usage.STREAM_KEY) == 0
