"""What every gateway process observed of each upstream (provider, credential) recently: calls,
errors and a bounded sample of latencies, in 10-second buckets shared through Redis (or the
embedded default's shared file), so that any process can tell the error rate and median
latency of the last five minutes across all of them.

The window: the WINDOW_BUCKETS buckets of BUCKET_SECONDS ending with the one `now` falls in,
i.e. between 290 and 300 seconds (bucket n holds the calls made in [10n, 10n + 10) seconds of
Unix time; the oldest bucket leaves as each new one begins). Latency samples are of successful
calls only, at most SAMPLE_PER_BUCKET per credential and bucket (the last ones made).

The request path only adds to an in-process tally (a lock and a few additions); a thread of
the process writes the tally out a second later, one pipeline for all that the second saw.
Best effort: what a process had not written out when it was killed is lost, as are the
seconds Redis was unreachable (never the request).
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from core.periodic_flush import PeriodicFlush
from core.redis import get_redis
from core.shared_state import get_shared_state

logger = logging.getLogger(__name__)

BUCKET_SECONDS = 10
WINDOW_BUCKETS = 30
WINDOW_SECONDS = BUCKET_SECONDS * WINDOW_BUCKETS
SAMPLE_PER_BUCKET = 50
FLUSH_SECONDS = 1.0
_KEY_TTL_SECONDS = WINDOW_SECONDS + 120
_PREFIX = "tollgate:uh:"

Ident = tuple[str, str]  # (provider slug, credential: "platform" or "byok:<id>")


@dataclass
class _Tally:
    calls: int = 0
    errors: int = 0
    latencies: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class UpstreamHealth:
    calls: int
    errors: int
    p50_latency_ms: int | None

    @property
    def error_rate(self) -> float | None:
        return round(self.errors / self.calls, 4) if self.calls else None


_lock = threading.Lock()
_pending: dict[tuple[int, str], _Tally] = {}  # (bucket, "provider|credential")


def _field(provider: str, credential: str) -> str:
    return f"{provider}|{credential}"


def upstream_health_observe(
    *, provider: str, credential: str, ok: bool, latency_ms: float, at: float | None = None
) -> None:
    """Count one upstream call (the request path: no I/O here)."""
    bucket = int((time.time() if at is None else at) // BUCKET_SECONDS)
    with _lock:
        first = not _pending
        tally = _pending.setdefault((bucket, _field(provider, credential)), _Tally())
        tally.calls += 1
        if not ok:
            tally.errors += 1
        elif len(tally.latencies) < SAMPLE_PER_BUCKET:
            tally.latencies.append(int(latency_ms))
    if first:
        _writer.wake()


def _take() -> dict[tuple[int, str], _Tally]:
    global _pending
    with _lock:
        batch, _pending = _pending, {}
    return batch


def _redis_commands(batch: dict[tuple[int, str], _Tally]) -> list[tuple]:
    commands: list[tuple] = []
    for (bucket, ident), tally in batch.items():
        counts = f"{_PREFIX}{bucket}"
        commands.append(("HINCRBY", counts, ident + "|n", tally.calls))
        if tally.errors:
            commands.append(("HINCRBY", counts, ident + "|e", tally.errors))
        commands.append(("EXPIRE", counts, _KEY_TTL_SECONDS))
        if tally.latencies:
            sample = f"{_PREFIX}{bucket}:lat:{ident}"
            commands.append(("RPUSH", sample, *tally.latencies))
            commands.append(("LTRIM", sample, -SAMPLE_PER_BUCKET, -1))
            commands.append(("EXPIRE", sample, _KEY_TTL_SECONDS))
    return commands


def _shared_write(batch: dict[tuple[int, str], _Tally]) -> None:
    """The same buckets on the embedded default: one JSON object per bucket."""
    store = get_shared_state()
    by_bucket: dict[int, list[tuple[str, _Tally]]] = {}
    for (bucket, ident), tally in batch.items():
        by_bucket.setdefault(bucket, []).append((ident, tally))
    with store.atomic():
        for bucket, tallies in by_bucket.items():
            key = f"{_PREFIX}{bucket}"
            data = orjson.loads(store.get(key) or b"{}")
            for ident, tally in tallies:
                calls, errors, sample = data.get(ident, (0, 0, []))
                sample = (sample + tally.latencies)[-SAMPLE_PER_BUCKET:]
                data[ident] = (calls + tally.calls, errors + tally.errors, sample)
            store.set(key, orjson.dumps(data), ttl=_KEY_TTL_SECONDS)


def upstream_health_flush() -> None:
    """Write out this process's tally now (its writer thread; at exit; tests)."""
    batch = _take()
    if not batch:
        return
    try:
        client = get_redis()
        if client is None:
            _shared_write(batch)
        else:
            pipe = client.pipeline(transaction=False)
            for command in _redis_commands(batch):
                pipe.execute_command(*command)
            pipe.execute()
    except Exception as exc:  # best effort; the request path never waits on it
        logger.warning(
            "upstream health write failed (%s); %d dropped", type(exc).__name__, len(batch)
        )


_writer = PeriodicFlush(upstream_health_flush, interval=FLUSH_SECONDS, name="upstream-health")
os.register_at_fork(after_in_child=_take)  # a forked child starts empty: the parent writes its own


def upstream_health_window(
    *, upstreams: Iterable[Ident], now: float | None = None
) -> dict[Ident, UpstreamHealth]:
    """Calls, errors and median latency of each upstream over the window ending at `now`."""
    wanted = list(dict.fromkeys(upstreams))
    last = int((time.time() if now is None else now) // BUCKET_SECONDS)
    buckets = range(last - WINDOW_BUCKETS + 1, last + 1)
    client = get_redis()
    if client is None:
        rows = _shared_window(buckets)
    else:
        rows = _redis_window(client, buckets, [_field(*ident) for ident in wanted])
    result = {}
    for ident in wanted:
        calls, errors, sample = rows.get(_field(*ident), (0, 0, []))
        p50 = round(statistics.median(sample)) if sample else None
        result[ident] = UpstreamHealth(calls=calls, errors=errors, p50_latency_ms=p50)
    return result


def _shared_window(buckets: range) -> dict[str, tuple[int, int, list[int]]]:
    store = get_shared_state()
    totals: dict[str, tuple[int, int, list[int]]] = {}
    for bucket in buckets:
        raw = store.get(f"{_PREFIX}{bucket}")
        for ident, (calls, errors, sample) in (orjson.loads(raw) if raw else {}).items():
            seen = totals.get(ident, (0, 0, []))
            totals[ident] = (seen[0] + calls, seen[1] + errors, seen[2] + sample)
    return totals


def _redis_window(client, buckets: range, idents: list[str]) -> dict:
    pipe = client.pipeline(transaction=False)
    for bucket in buckets:
        pipe.hgetall(f"{_PREFIX}{bucket}")
        for ident in idents:
            pipe.lrange(f"{_PREFIX}{bucket}:lat:{ident}", 0, -1)
    replies = iter(pipe.execute())
    totals: dict[str, tuple[int, int, list[int]]] = {}
    for _ in buckets:
        counts = {k.decode(): int(v) for k, v in next(replies).items()}
        for ident in idents:
            sample = [int(v) for v in next(replies)]
            seen = totals.get(ident, (0, 0, []))
            totals[ident] = (
                seen[0] + counts.get(ident + "|n", 0),
                seen[1] + counts.get(ident + "|e", 0),
                seen[2] + sample,
            )
    return totals


def upstream_health_reset_local() -> None:
    """Forget what this process has not written out (tests)."""
    _take()
