"""The usage buffer (billing/services/usage.py): enqueue, flush, ingestion from the Redis stream."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from billing.models import UsageEvent
from billing.services import usage
from billing.usage_record import UsageRecord


def _event(tenant, request_id: str, **extra) -> UsageRecord:
    event = {
        "request_id": request_id,
        "tenant_id": tenant.pk,
        "api_key_id": None,
        "config_id": None,
        "requested_model": "auto",
        "model": "openai/gpt-4o-mini",
        "provider": "openai",
        "key_source": "platform",
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_tokens": 0,
        "cost_usd": "0.0000045000",
        "saved_usd": "0",
        "latency_ms": 12,
        "status": "success",
        "fallback": False,
        "attempts": [{"model": "openai/gpt-4o-mini", "status": "ok"}],
        "route_reason": "test",
        "tags": ["a"],
        "error_code": "",
        "created_at": datetime.now(UTC).isoformat(),
    }
    event.update(extra)
    return UsageRecord.from_dict(event)


@pytest.fixture(autouse=True)
def _empty_buffer():
    usage.usage_buffer_discard()
    yield
    usage.usage_buffer_discard()


def _drain() -> int:
    total = usage.usage_buffer_flush()
    return total + usage.usage_events_ingest()


@pytest.mark.django_db(transaction=True)
def test_enqueue_without_a_loop_writes_through(tenant):
    usage.usage_event_enqueue(record=_event(tenant, "r1"))
    _drain()
    row = UsageEvent.objects.get(request_id="r1")
    assert row.cost_usd == Decimal("0.0000045000")
    assert row.attempts == [{"model": "openai/gpt-4o-mini", "status": "ok"}]
    assert row.tags == ["a"]


@pytest.mark.django_db(transaction=True)
def test_enqueue_inside_a_loop_is_buffered_then_flushed_by_a_task(tenant):
    async def request_path():
        usage.usage_event_enqueue(record=_event(tenant, "r2"))
        assert len(usage._pending) == 1  # nothing written on the request path
        await asyncio.sleep(0.3)  # the background flusher runs

    asyncio.run(request_path())
    usage.usage_events_ingest()
    assert UsageEvent.objects.filter(request_id="r2").exists()


@pytest.mark.django_db(transaction=True)
def test_ingestion_is_idempotent_on_request_id(tenant):
    usage.usage_event_enqueue(record=_event(tenant, "dup"))
    usage.usage_event_enqueue(record=_event(tenant, "dup", cost_usd="9"))
    _drain()
    assert UsageEvent.objects.filter(request_id="dup").count() == 1


@pytest.mark.django_db(transaction=True)
def test_events_of_unknown_tenants_or_deleted_keys_do_not_block_the_batch(tenant):
    from tenants.models import Tenant

    usage.usage_event_enqueue(record=_event(Tenant(pk=999999), "ghost"))
    usage.usage_event_enqueue(record=_event(tenant, "deleted-key", api_key_id=987654))
    usage.usage_event_enqueue(record=_event(tenant, "fine"))
    _drain()
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == {"deleted-key", "fine"}
    assert UsageEvent.objects.get(request_id="deleted-key").api_key_id is None


@pytest.mark.django_db(transaction=True)
def test_stream_ingest_acks_only_after_commit_and_reclaims_dead_consumers(
    tenant, redis_client, monkeypatch
):
    for request_id in ("s1", "s2"):  # as a gateway's flush writes them
        redis_client.xadd(
            usage.STREAM_KEY, {"e": orjson.dumps(_event(tenant, request_id).to_dict())}
        )
    assert redis_client.xlen(usage.STREAM_KEY) == 2

    # A consumer that dies between reading and committing leaves both entries pending.
    def crash(events):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(usage, "_write_events", crash)
    with pytest.raises(RuntimeError):
        usage.usage_events_ingest()
    monkeypatch.undo()
    pending = redis_client.xpending(usage.STREAM_KEY, usage.GROUP)
    assert pending["pending"] == 2
    assert UsageEvent.objects.count() == 0

    # Another consumer reclaims them once they are idle long enough.
    monkeypatch.setattr(usage, "RECLAIM_IDLE_MS", 0)
    monkeypatch.setattr(usage, "_consumer_name", lambda: "other-worker")
    assert usage.usage_events_ingest() == 2
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == {"s1", "s2"}
    assert redis_client.xpending(usage.STREAM_KEY, usage.GROUP)["pending"] == 0
    assert redis_client.xlen(usage.STREAM_KEY) == 0
    assert usage.usage_events_ingest() == 0


@pytest.mark.django_db(transaction=True)
def test_malformed_stream_entries_go_to_the_dead_letter_stream(tenant, redis_client):
    redis_client.xadd(usage.STREAM_KEY, {"e": b"{not json"})
    redis_client.xadd(usage.STREAM_KEY, {"e": orjson.dumps(_event(tenant, "ok-1").to_dict())})
    assert usage.usage_events_ingest() == 2
    assert UsageEvent.objects.filter(request_id="ok-1").exists()
    assert redis_client.xlen(usage.DEAD_LETTER_KEY) == 1


@pytest.mark.django_db(transaction=True)
def test_entries_an_older_gateway_wrote_still_ingest(tenant, redis_client):
    """The stream's wire form is the record's dict form; entries with fields missing (written
    before a field existed) take the defaults."""
    full = _event(tenant, "old-full")
    assert UsageRecord.from_dict(full.to_dict()) == full
    redis_client.xadd(usage.STREAM_KEY, {"e": orjson.dumps(full.to_dict())})
    partial = {
        "request_id": "old-partial",
        "tenant_id": tenant.pk,
        "model": "gpt-4o-mini",
        "cost_usd": "0.0010000001",
        "status": "success",
        "created_at": datetime.now(UTC).isoformat(),
    }
    redis_client.xadd(usage.STREAM_KEY, {"e": orjson.dumps(partial)})
    assert usage.usage_events_ingest() == 2
    assert UsageEvent.objects.get(request_id="old-full").tags == ["a"]
    row = UsageEvent.objects.get(request_id="old-partial")
    assert (row.cost_usd, row.key_source, row.attempts) == (Decimal("0.0010000001"), "platform", [])


@pytest.mark.django_db(transaction=True)
def test_buffer_left_at_exit_is_flushed(tenant):
    usage._pending.append(_event(tenant, "at-exit"))
    usage._flush_at_exit()
    usage.usage_events_ingest()
    assert UsageEvent.objects.filter(request_id="at-exit").exists()


@pytest.mark.django_db(transaction=True)
def test_lifespan_shutdown_flushes_the_buffer_and_closes_the_upstream_client(tenant):
    from config.asgi import lifespan
    from llm.providers import http

    sent = []

    async def worker_stops():
        client = http.get_http_client()
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive():
            if sent and sent[-1]["type"] == "lifespan.startup.complete":
                # Serving: a request buffered its event, the flusher has not run yet.
                usage._pending.append(_event(tenant, "at-shutdown"))
            return next(messages)

        async def send(message):
            sent.append(message)

        await lifespan({"type": "lifespan"}, receive, send)
        return client

    client = asyncio.run(worker_stops())
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert client.is_closed
    assert usage._pending == []
    usage.usage_events_ingest()
    assert UsageEvent.objects.filter(request_id="at-shutdown").exists()


def test_lifespan_shutdown_waits_for_settlements_in_flight():
    """A plain answer is sent before its budget settles; a graceful stop lets that finish."""
    from config.asgi import lifespan
    from gateway.services.background import spawn

    settled = []

    async def settlement():
        await asyncio.sleep(0.2)
        settled.append(True)

    async def worker_stops():
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive():
            message = next(messages)
            if message["type"] == "lifespan.shutdown":
                spawn(settlement())  # the answer went out, its settlement has not
            return message

        async def send(message):
            pass

        await lifespan({"type": "lifespan"}, receive, send)

    asyncio.run(worker_stops())
    assert settled == [True]


def test_every_column_of_the_row_comes_from_the_record(tenant):
    """COPY writes `_event_values` as it is: a column it lacks would fail every batch."""
    columns = {f.attname for f in UsageEvent._meta.concrete_fields if not f.primary_key}
    assert set(usage._event_values(_event(tenant, "cols"))) == columns


@pytest.mark.django_db(transaction=True)
def test_json_text_survives_ingestion_exactly(tenant):
    """Tags and attempts go to the database as JSON text (COPY on PostgreSQL): quotes,
    backslashes, newlines and non-ASCII come back as they went in."""
    tags = ['q"uote', "back\\slash", "new\nline", "café ✓", "tab\there"]
    attempts = [{"model": "m", "status": "error", "error": 'say "hi"\\n\u00e9', "latency_ms": 3}]
    usage.usage_event_enqueue(record=_event(tenant, "json-1", tags=tags, attempts=attempts))
    _drain()
    row = UsageEvent.objects.get(request_id="json-1")
    assert (row.tags, row.attempts) == (tags, attempts)
