"""The usage ledger (billing/services/usage_ledger.py) against a real Redis that loses its
data between two flushes of the same process: what the first flush put on the lost stream is
written to the database, what the second put on the new one waits for ingestion."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import UsageEvent
from billing.services import usage, usage_ledger
from billing.usage_record import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _empty_ledger():
    """The ledger is per process: no test sees another's records."""
    usage.usage_buffer_discard()
    yield
    usage.usage_buffer_discard()


def _record(tenant_id: int, request_id: str) -> UsageRecord:
    return UsageRecord(
        request_id=request_id,
        tenant_id=tenant_id,
        status="success",
        created_at=datetime.now(UTC),
        model="openai/gpt-4o-mini",
        provider="openai",
        input_tokens=3,
        output_tokens=2,
        cost_usd=Decimal("0.0000012345"),
    )


async def _flush(tenant_id: int, prefix: str, count: int) -> None:
    """Enqueue as the gateway does and wait for the background flush to the stream."""
    for n in range(count):
        usage.usage_event_enqueue(record=_record(tenant_id, f"{prefix}-{n}"))
    while usage._pending or any(not task.done() for task in usage._flushers.values()):
        await asyncio.sleep(0.01)


def _stored() -> set[str]:
    return set(UsageEvent.objects.values_list("request_id", flat=True))


def test_entries_lost_with_redis_are_written_even_after_the_process_streams_again(
    tenant, settings, private_redis, monkeypatch
):
    """The watcher's check runs once, after the second flush: the second flush set the epoch
    again, and it must not be the one the first flush's entries went to."""
    settings.REDIS_URL = private_redis.url
    monkeypatch.setattr(usage_ledger, "CHECK_SECONDS", 3600)  # checked by hand below

    async def run() -> None:
        await _flush(tenant.pk, "before", 3)
        private_redis.client().flushall()  # the stream and the epoch are gone
        await _flush(tenant.pk, "after", 2)
        assert usage_ledger.ledger_size() == 5
        await usage_ledger._check(usage.STREAM_KEY, usage._write_events)

    asyncio.run(run())
    assert _stored() == {"before-0", "before-1", "before-2"}
    assert usage_ledger.ledger_size() == 2  # on the new stream: ingestion takes them
    assert usage.usage_events_ingest() == 2
    assert _stored() == {"before-0", "before-1", "before-2", "after-0", "after-1"}


def test_entries_still_on_the_stream_wait_for_ingestion_and_are_then_forgotten(
    tenant, settings, private_redis, monkeypatch
):
    settings.REDIS_URL = private_redis.url
    monkeypatch.setattr(usage_ledger, "CHECK_SECONDS", 3600)

    async def check() -> None:
        await usage_ledger._check(usage.STREAM_KEY, usage._write_events)

    asyncio.run(_flush(tenant.pk, "kept", 4))
    asyncio.run(check())
    assert usage_ledger.ledger_size() == 4 and _stored() == set()
    assert usage.usage_events_ingest() == 4
    asyncio.run(check())
    assert usage_ledger.ledger_size() == 0
    assert _stored() == {f"kept-{n}" for n in range(4)}


def test_a_synchronous_flush_writes_to_the_database_not_to_the_stream(
    tenant, settings, private_redis
):
    """A stream entry added outside the event loop's flush would have no ledger to keep it:
    the ingestion task flushing a process's buffer put entries there that a Redis restart lost."""
    settings.REDIS_URL = private_redis.url

    async def buffered() -> None:
        usage.usage_event_enqueue(record=_record(tenant.pk, "sync-0"))  # flusher not run yet

    asyncio.run(buffered())
    assert usage.usage_buffer_flush() == 1
    assert _stored() == {"sync-0"}
    assert private_redis.client().exists(usage.STREAM_KEY) == 0


def test_shutdown_writes_what_the_stream_holds_unconfirmed(tenant, settings, private_redis):
    """After a graceful stop nobody keeps the ledger: Redis losing its data then must not
    lose the records with it."""
    from config.asgi import lifespan

    settings.REDIS_URL = private_redis.url
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def serve_then_stop() -> None:
        await _flush(tenant.pk, "streamed", 3)

        async def receive():
            return next(messages)

        async def send(message):
            pass

        await lifespan({"type": "lifespan"}, receive, send)

    asyncio.run(serve_then_stop())
    private_redis.client().flushall()
    assert _stored() == {"streamed-0", "streamed-1", "streamed-2"}
    assert usage_ledger.ledger_size() == 0


def test_past_the_cap_the_oldest_batches_are_written_directly_and_the_rest_kept(
    tenant, settings, private_redis, monkeypatch
):
    """MAX_TRACKED counts records, not batches: two batches of three past a cap of four write
    the older batch (the one that takes the ledger over the cap) and keep the newer."""
    settings.REDIS_URL = private_redis.url
    monkeypatch.setattr(usage_ledger, "CHECK_SECONDS", 3600)
    monkeypatch.setattr(usage_ledger, "MAX_TRACKED", 4)

    async def run() -> None:
        await _flush(tenant.pk, "older", 3)
        await _flush(tenant.pk, "newer", 3)
        assert usage_ledger.ledger_size() == 6
        await usage_ledger._check(usage.STREAM_KEY, usage._write_events)

    asyncio.run(run())
    assert _stored() == {"older-0", "older-1", "older-2"}
    assert usage_ledger.ledger_size() == 3
    assert usage.usage_events_ingest() == 6  # all six were on the stream; the older idempotently
    assert _stored() == {f"{prefix}-{n}" for prefix in ("older", "newer") for n in range(3)}
