"""The usage records this process put on the Redis stream that nobody has confirmed stored yet,
kept until ingestion has taken them: a Redis that loses its data (a restart without
persistence, a failover, a flush) must not lose them with it.

Each flush to the stream learns the stream's epoch first (a random token under EPOCH_KEY, set
by whoever finds it missing; a new token each time, or a process that set the epoch before a
loss would set the same one after it, and take the lost entries for ingested ones), in the same
pipeline on the same connection, and the records are tracked with the epoch their entries went
to. While any are tracked, a watcher task of the worker's loop looks once a second:
- another epoch (Redis lost its data): those records are written to the database directly;
- same epoch: entries older than the stream's oldest remaining one were ingested (ingestion
  deletes what it has committed) and are forgotten;
- Redis unreachable, or an entry waiting longer than MAX_AGE_SECONDS (ingestion stalled): the
  records are written to the database directly as well.
Writes are idempotent by request id, so a record that ingestion stored too is not doubled.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
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


@dataclass(frozen=True)
class _Entry:
    at: float
    entry_id: tuple[int, int]
    epoch: bytes
    payload: bytes  # the stream entry's JSON: a record costs its wire size, not an object

    def record(self) -> UsageRecord:
        return UsageRecord.from_dict(orjson.loads(self.payload))


_lock = threading.Lock()
_tracked: collections.deque[_Entry] = collections.deque()
_watchers: dict[int, asyncio.Task] = {}


def epoch_commands() -> list[tuple]:
    """Prepend to a flush's XADDs: the second reply is the epoch they go to."""
    return [("SET", EPOCH_KEY, uuid.uuid4().hex, "NX"), ("GET", EPOCH_KEY)]


def _parse_id(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def ledger_track(
    *, epoch: bytes, entries: list[tuple[bytes, bytes]], stream_key: str, write: Writer
) -> None:
    """Track what one flush added: (entry id, payload) pairs, all in `epoch`."""
    now = time.monotonic()
    with _lock:
        _tracked.extend(_Entry(now, _parse_id(i), epoch, payload) for i, payload in entries)
    loop = asyncio.get_running_loop()
    watcher = _watchers.get(id(loop))
    if watcher is None or watcher.done():
        _watchers[id(loop)] = loop.create_task(_watch(stream_key, write))


def ledger_take() -> list[_Entry]:
    """Everything tracked, untracked now: the caller writes `entry.record()` of each to the
    database, or gives them back with `ledger_restore` when it cannot."""
    with _lock:
        entries = list(_tracked)
        _tracked.clear()
    return entries


def ledger_restore(entries: list[_Entry]) -> None:
    with _lock:
        _tracked.extendleft(reversed(entries))


def ledger_size() -> int:
    return len(_tracked)


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
        lost = [e for e in _tracked if e.epoch != epoch or e.at < cutoff]
        lost += list(itertools.islice(_tracked, 0, max(len(_tracked) - MAX_TRACKED, 0)))
        ingested = [
            e for e in _tracked if e.epoch == epoch and (oldest is None or e.entry_id < oldest)
        ]
        _forget(ingested)
    if not lost:
        return
    # Kept tracked until written: a seed of the budget counters meanwhile writes them too.
    await sync_to_async(write, thread_sensitive=False)([entry.record() for entry in lost])
    with _lock:
        _forget(lost)
    logger.warning("usage stream lost or stalled: %d records written directly", len(lost))


def _forget(entries: list[_Entry]) -> None:
    """Drop these from the ledger (under _lock)."""
    if entries:
        gone = {id(entry) for entry in entries}
        kept = [entry for entry in _tracked if id(entry) not in gone]
        _tracked.clear()
        _tracked.extend(kept)
