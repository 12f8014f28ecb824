"""The usage buffer: the gateway records one event per request without a database round trip.

The gateway hands over a `UsageRecord` (billing/usage_record.py); `_event_values` below is the one
place a record becomes a UsageEvent row.

With REDIS_URL the events go to the Redis Stream `tollgate:usage` (batched XADD from a background
task of the worker's loop); `usage_events_ingest` (a Celery task in billing) moves them into
UsageEvent rows with a consumer group: bulk insert idempotent on request_id, XACK only after the
commit, and entries left pending by a dead consumer are reclaimed. On the embedded default the
in-process batch is written straight to the database by the background task. Whatever is still
buffered when the process stops, or on the stream unconfirmed, is written to the database at
shutdown, so a graceful stop loses nothing.

A batch on the stream stays in this process's ledger (usage_ledger.py) until ingestion has it:
a Redis that loses its data, or stays away, does not take the events with it. An ingestion run
that cannot commit (the database is down) retries its own entries first on the next run.
"""

import asyncio
import atexit
import logging
import os
import socket
import threading
import time

import orjson
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction

from billing.models import UsageEvent
from billing.services.credential_health import credential_health_note
from billing.services.usage_ledger import epoch_commands, ledger_restore, ledger_take, ledger_track
from billing.usage_record import UsageRecord
from core.db import connection_refresh
from core.redis import get_pipelined_redis, get_redis
from llm.models import RoutingConfig
from tenants.models import Tenant, TenantApiKey

logger = logging.getLogger(__name__)


STREAM_KEY = "tollgate:usage"
DEAD_LETTER_KEY = "tollgate:usage:dead"
GROUP = "usage-ingest"
STREAM_MAXLEN = 5_000_000  # a safety cap; ingestion deletes what it has committed
RECLAIM_IDLE_MS = 60_000  # settings.TOLLGATE_USAGE_RECLAIM_IDLE_MS overrides it (tests)
INGEST_BATCH = 5000
DRAIN_SECONDS = 4.0  # under the 5 s schedule (config/schedules.py): runs do not pile up
_FLUSH_DELAY_SECONDS = 0.02

_lock = threading.Lock()
_pending: list[UsageRecord] = []
_in_transit: dict[int, list[UsageRecord]] = {}  # taken from _pending, not stored yet (_take)
_flushers: dict[int, asyncio.Task] = {}


def usage_event_enqueue(*, record: UsageRecord) -> None:
    """Buffer one request's record (see module doc). Safe from async code; without a loop it
    writes now."""
    with _lock:
        _pending.append(record)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        usage_buffer_flush()
        return
    task = _flushers.get(id(loop))
    if task is None or task.done():
        _flushers[id(loop)] = loop.create_task(_flush_soon())


def _stream_entry(entry: bytes) -> tuple:
    """The XADD of one record's JSON (the stream is capped, approximately)."""
    return ("XADD", STREAM_KEY, "MAXLEN", "~", STREAM_MAXLEN, "*", "e", entry)


async def _stream_batch(client, batch: list[UsageRecord]) -> None:
    """XADD a batch, and keep it in the ledger (usage_ledger.py) until ingestion has it."""
    entries = [orjson.dumps(record.to_dict()) for record in batch]
    epoch = epoch_commands()
    replies = await client.execute_many([*epoch, *(_stream_entry(e) for e in entries)])
    ids = replies[len(epoch) :]
    ledger_track(
        epoch=replies[1], ids=ids, payloads=entries, stream_key=STREAM_KEY, write=_write_events
    )


def _take() -> list[UsageRecord]:
    """Everything buffered, now in transit until `_arrived`: from the buffer to the stream's
    ledger or the database, it is seen by usage_records_secure() all the way."""
    global _pending
    with _lock:
        batch, _pending = _pending, []
        if batch:
            _in_transit[id(batch)] = batch
    return batch


def _arrived(batch: list[UsageRecord]) -> None:
    with _lock:
        _in_transit.pop(id(batch), None)


def _put_back(batch: list[UsageRecord]) -> None:
    with _lock:
        _pending[:0] = batch


async def _flush_soon() -> None:
    delay = _FLUSH_DELAY_SECONDS
    while True:
        await asyncio.sleep(delay)
        batch = _take()
        if not batch:
            return
        try:
            await _flush_batch(batch)
            delay = _FLUSH_DELAY_SECONDS
        except Exception:
            logger.exception("usage buffer flush failed; %d events kept for retry", len(batch))
            _put_back(batch)
            delay = min(delay * 2 + 0.5, 10.0)
        finally:
            _arrived(batch)


async def _flush_batch(batch: list[UsageRecord]) -> None:
    client = get_pipelined_redis()
    if client is not None:
        try:
            await _stream_batch(client, batch)
            return
        except Exception:  # Redis down: the database is the record, write the batch there
            logger.warning("usage stream unavailable; %d events written directly", len(batch))
    await sync_to_async(_write_events, thread_sensitive=False)(batch)


def usage_buffer_flush() -> int:
    """Write everything buffered in this process to the database now (sync). Not to the stream:
    a synchronous caller (shutdown, the ingestion task, tests) has no answer waiting on it, and
    an entry it added there would have no ledger to keep it if Redis lost its data."""
    batch = _take()
    if not batch:
        return 0
    try:
        _write_events(batch)
    except Exception:
        _put_back(batch)
        raise
    finally:
        _arrived(batch)
    return len(batch)


def usage_buffer_discard() -> int:
    """Drop what this process buffered (tests only: their database is gone)."""
    batch = _take()
    _arrived(batch)
    return len(batch) + sum(tracked.count for tracked in ledger_take())


def usage_records_secure() -> int:
    """Write this process's records that may not be in the database yet (buffered, on their way
    to the stream or the database, or on the stream and not confirmed ingested) straight to it,
    idempotently: the budget counters about to be seeded from the database then count them
    (budget_failover.py)."""
    batch, tracked = _take(), ledger_take()
    with _lock:
        in_transit = [record for records in _in_transit.values() for record in records]
    try:
        return _write_events(in_transit + [r for batch in tracked for r in batch.records()])
    except Exception:
        _put_back(batch)
        ledger_restore(tracked)
        raise
    finally:
        _arrived(batch)


def _event_values(record: UsageRecord) -> dict:
    """The one mapping from a record to its row's values (by attribute name)."""
    return {
        "request_id": record.request_id,
        "tenant_id": record.tenant_id,
        "api_key_id": record.api_key_id,
        "config_id": record.config_id,
        "requested_model": record.requested_model,
        "model": record.model,
        "provider": record.provider,
        "key_source": record.key_source,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cached_tokens": record.cached_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "reasoning_tokens": record.reasoning_tokens,
        "cost_usd": record.cost_usd,
        "saved_usd": record.saved_usd,
        "latency_ms": record.latency_ms,
        "status": record.status,
        "fallback": record.fallback,
        "attempts": list(record.attempts),
        "route_reason": record.route_reason,
        "tags": list(record.tags),
        "error_code": record.error_code,
        "end_user": record.end_user,
        "created_at": record.created_at,
    }


def _write_events(records: list[UsageRecord]) -> int:
    """Insert records idempotently (request_id is unique); references to deleted keys or configs
    are cleared rather than failing the batch."""
    connection_refresh()
    rows = [_event_values(record) for record in records]
    if not rows:
        return 0
    tenant_ids = {row["tenant_id"] for row in rows}
    live_tenants = set(Tenant.objects.filter(pk__in=tenant_ids).values_list("pk", flat=True))
    if len(live_tenants) < len(tenant_ids):
        for row in rows:
            if row["tenant_id"] not in live_tenants:
                logger.error(
                    "usage event dropped: unknown tenant (request_id=%s)", row["request_id"]
                )
        rows = [row for row in rows if row["tenant_id"] in live_tenants]
    key_ids = {row["api_key_id"] for row in rows if row["api_key_id"]}
    config_ids = {row["config_id"] for row in rows if row["config_id"]}
    live_keys = set(TenantApiKey.objects.filter(pk__in=key_ids).values_list("pk", flat=True))
    live_configs = set(RoutingConfig.objects.filter(pk__in=config_ids).values_list("pk", flat=True))
    for row in rows:
        if row["api_key_id"] and row["api_key_id"] not in live_keys:
            row["api_key_id"] = None
        if row["config_id"] and row["config_id"] not in live_configs:
            row["config_id"] = None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy_rows(rows)
        else:
            events = [UsageEvent(**row) for row in rows]
            UsageEvent.objects.bulk_create(events, batch_size=1000, ignore_conflicts=True)
    credential_health_note(records=records)
    return len(rows)


def _copy_rows(rows: list[dict]) -> None:
    """COPY into a scratch table, then one INSERT ... ON CONFLICT DO NOTHING: about a quarter of
    bulk_create's CPU for a batch (no per-row SQL compilation), so the ingestion bursts that
    share a machine with the gateway stay short (bench/README.md). The values go to COPY as
    they are (no model instances; JSON as orjson's text): a third less CPU per event again
    ("The ingestion cap")."""
    fields = [f for f in UsageEvent._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    table = quote(UsageEvent._meta.db_table)
    names = [f.attname for f in fields]
    json_names = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE usage_ingest ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY usage_ingest ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        orjson.dumps(row[name]).decode() if name in json_names else row[name]
                        for name in names
                    ]
                )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM usage_ingest "  # noqa: S608
            "ON CONFLICT DO NOTHING"
        )
        cursor.execute("DROP TABLE usage_ingest")


def _consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def usage_events_ingest(*, max_events: int = INGEST_BATCH) -> int:
    """Move up to `max_events` buffered events into the database; returns how many were handled.

    Safe to run concurrently and repeatedly: each consumer reads its own entries, inserts are
    idempotent on request_id, and entries are acknowledged only after the insert committed.
    """

    client = get_redis()
    if client is None:
        return usage_buffer_flush()
    usage_buffer_flush()
    try:
        client.xgroup_create(STREAM_KEY, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    entries = _read_entries(client, max_events)
    if not entries:
        return 0
    records, ids, dead = [], [], []
    for entry_id, fields in entries:
        ids.append(entry_id)
        raw = fields.get(b"e") if fields else None
        try:
            data = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError):
            dead.append(raw or b"")
            continue
        record = _record_of(data)
        if record is not None:
            records.append(record)
    _write_events(records)
    pipe = client.pipeline(transaction=False)
    for raw in dead:
        pipe.xadd(DEAD_LETTER_KEY, {"e": raw}, maxlen=100_000)
    pipe.xack(STREAM_KEY, GROUP, *ids)
    pipe.xdel(STREAM_KEY, *ids)
    pipe.execute()
    return len(ids)


def usage_events_drain(
    *, batch_size: int = INGEST_BATCH, max_seconds: float = DRAIN_SECONDS
) -> int:
    """Ingest batch after batch until a batch comes back short (the stream is drained) or
    `max_seconds` have passed; returns how many were handled.

    One batch per scheduled run capped ingestion at 5,000 events per 5 s: a gateway answering
    more than 1,000 requests a second outran it, the stream grew, and every web worker's ledger
    held the unconfirmed records in memory until it wrote them itself (bench/README.md, "The
    ingestion cap").
    """

    deadline = time.monotonic() + max_seconds
    total = 0
    while True:
        count = usage_events_ingest(max_events=batch_size)
        total += count
        if count < batch_size or time.monotonic() >= deadline:
            return total


def _read_entries(client, max_events: int) -> list:
    """This consumer's next entries: first those it read before and could not commit (the
    database was down), then those a dead consumer read but never acknowledged, then new ones."""
    consumer = _consumer_name()
    entries = []
    for _stream, items in client.xreadgroup(GROUP, consumer, {STREAM_KEY: "0"}, count=max_events):
        entries.extend(items)
    if len(entries) < max_events:
        idle_ms = getattr(settings, "TOLLGATE_USAGE_RECLAIM_IDLE_MS", RECLAIM_IDLE_MS)
        _, claimed, *_ = client.xautoclaim(
            STREAM_KEY, GROUP, consumer, min_idle_time=idle_ms, count=max_events - len(entries)
        )
        entries.extend(claimed)
    if len(entries) < max_events:
        result = client.xreadgroup(
            GROUP, consumer, {STREAM_KEY: ">"}, count=max_events - len(entries)
        )
        for _stream, items in result or []:
            entries.extend(items)
    return entries


def _record_of(data) -> UsageRecord | None:
    """The record of one decoded stream entry; None (logged, then acknowledged) when malformed."""
    try:
        return UsageRecord.from_dict(data)
    except (KeyError, ValueError, TypeError, ArithmeticError):
        request_id = data.get("request_id") if isinstance(data, dict) else None
        logger.error("usage event dropped: malformed (request_id=%s)", request_id)
        return None


def _flush_at_exit() -> None:
    try:
        usage_buffer_flush()
    except Exception:
        logger.exception("usage buffer could not be flushed at exit")


atexit.register(_flush_at_exit)
