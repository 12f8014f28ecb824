"""The usage records this process put on the Redis stream that nobody has confirmed stored yet,
kept until ingestion has taken them: a Redis that loses its data (a restart without
persistence, a failover, a flush) must not lose them with it.

Each flush to the stream learns the stream's epoch first (a random token under EPOCH_KEY, set
by whoever finds it missing; a new token each time, or a process that set the epoch before a
loss would set the same one after it, and take the lost entries for ingested ones), in the same
pipeline on the same connection, and each flush's records are tracked as one batch with the
epoch their entries went to. While any are tracked, a watcher task of the worker's loop looks
once a second:
- another epoch (Redis lost its data): those records are written to the database directly;
- same epoch: a batch whose newest entry is older than the stream's oldest remaining one was
  ingested (ingestion deletes what it has committed) and is forgotten;
- Redis unreachable, or a batch waiting longer than MAX_AGE_SECONDS (ingestion stalled): the
  records are written to the database directly as well.
Writes are idempotent by request id, so a record that ingestion stored too is not doubled.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from asgiref.sync import sync_to_async

from billing.usage_record import UsageRecord
from core.redis import get_pipelined_redis

logger = logging.getLogger(__name__)

EPOCH_KEY = "tollgate:usage:epoch"
CHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 120.0
MAX_TRACKED = 200_000  # beyond this the oldest are written directly, not kept in memory

Writer = Callable[[list[UsageRecord]], int]


@dataclass(frozen=True, slots=True)
class _Batch:
    """The entries one flush added, kept as one newline-joined blob of their JSON: one object
    and one allocation per flush. An object per entry cost ~3.5 kB of worker memory each at
    ~1,200 requests/s (heap fragmentation; bench/README.md, "The ledger's memory")."""

    at: float
    epoch: bytes
    newest_id: tuple[int, int]  # ingested, all of it, once the stream's oldest entry is newer
    count: int
    payloads: bytes

    def records(self) -> list[UsageRecord]:
        return [UsageRecord.from_dict(orjson.loads(line)) for line in self.payloads.split(b"\n")]


_lock = threading.Lock()
_tracked: collections.deque[_Batch] = collections.deque()
_watchers: dict[int, asyncio.Task] = {}


def epoch_commands() -> list[tuple]:
    """Prepend to a flush's XADDs: the second reply is the epoch they go to."""
    return [("SET", EPOCH_KEY, uuid.uuid4().hex, "NX"), ("GET", EPOCH_KEY)]


def _parse_id(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def ledger_track(
    *, epoch: bytes, ids: list[bytes], payloads: list[bytes], stream_key: str, write: Writer
) -> None:
    """Track what one flush added, all in `epoch`: the stream ids Redis gave its entries (in
    the order it added them, so the last is the newest) and their JSON."""
    if not ids:
        return
    batch = _Batch(time.monotonic(), epoch, _parse_id(ids[-1]), len(ids), b"\n".join(payloads))
    with _lock:
        _tracked.append(batch)
    loop = asyncio.get_running_loop()
    watcher = _watchers.get(id(loop))
    if watcher is None or watcher.done():
        _watchers[id(loop)] = loop.create_task(_watch(stream_key, write))


def ledger_take() -> list[_Batch]:
    """Everything tracked, untracked now: the caller writes `batch.records()` of each to the
    database, or gives them back with `ledger_restore` when it cannot."""
    with _lock:
        batches = list(_tracked)
        _tracked.clear()
    return batches


def ledger_restore(batches: list[_Batch]) -> None:
    with _lock:
        _tracked.extendleft(reversed(batches))


def ledger_size() -> int:
    """The records tracked."""
    return sum(batch.count for batch in _tracked)


async def _watch(stream_key: str, write: Writer) -> None:
    while _tracked:
        await asyncio.sleep(CHECK_SECONDS)
        try:
            await _check(stream_key, write)
        except Exception:
            logger.exception("usage ledger check failed; %d records kept", len(_tracked))


async def _check(stream_key: str, write: Writer) -> None:
    try:
        epoch, first = await get_pipelined_redis().execute_many(
            [("GET", EPOCH_KEY), ("XRANGE", stream_key, "-", "+", "COUNT", 1)]
        )
    except Exception:  # Redis unreachable: the database is the record
        epoch, first = None, None
    oldest = _parse_id(first[0][0]) if first else None
    cutoff = time.monotonic() - MAX_AGE_SECONDS
    with _lock:
        lost = [b for b in _tracked if b.epoch != epoch or b.at < cutoff]
        lost += _beyond_cap()
        ingested = [
            b for b in _tracked if b.epoch == epoch and (oldest is None or b.newest_id < oldest)
        ]
        _forget(ingested)
    if not lost:
        return
    # Kept tracked until written: a seed of the budget counters meanwhile writes them too.
    records = [record for batch in lost for record in batch.records()]
    await sync_to_async(write, thread_sensitive=False)(records)
    with _lock:
        _forget(lost)
    logger.warning("usage stream lost or stalled: %d records written directly", len(records))


def _beyond_cap() -> list[_Batch]:
    """The oldest batches past MAX_TRACKED records (under _lock)."""
    excess = sum(batch.count for batch in _tracked) - MAX_TRACKED
    oldest = []
    for batch in _tracked:
        if excess <= 0:
            break
        oldest.append(batch)
        excess -= batch.count
    return oldest


def _forget(batches: list[_Batch]) -> None:
    """Drop these from the ledger (under _lock)."""
    if batches:
        gone = {id(batch) for batch in batches}
        kept = [batch for batch in _tracked if id(batch) not in gone]
        _tracked.clear()
        _tracked.extend(kept)
