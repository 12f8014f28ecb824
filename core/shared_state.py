"""State that every process of the embedded default shares, in one SQLite file (no Redis).

With REDIS_URL set, idempotency claims, rate-limit windows, the response cache, circuit
breakers and the snapshot version live in Redis and every web process sees the same values.
The embedded default runs several uvicorn processes too (`make run`, WEB_CONCURRENCY), so the
same state must be shared there: this store keeps it in a small SQLite file next to the
database (`TOLLGATE_SHARED_STATE_FILE`), in WAL mode, with one short write transaction per
operation (tens of microseconds; `BEGIN IMMEDIATE` so two writers queue on the lock instead
of failing). It is one machine's store: a deployment on several machines sets REDIS_URL.

Values are bytes with an expiry (wall clock, as Redis's EX). Expired rows read as absent and
are purged now and then. `atomic()` runs several operations as one transaction: what a Lua
script does on Redis (check-and-count a rate limit, count a breaker failure).
"""

from __future__ import annotations

import functools
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS shared_state ("
    " key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"
)
_PURGE_EVERY = 2000  # writes, on average, between purges of expired rows
_BUSY_TIMEOUT_SECONDS = 10.0


class SharedState:
    """One SQLite file, one connection per thread (sqlite3 connections are not shared across
    threads), opened on first use in each process."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._pid != os.getpid():  # a forked child opens its own
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn, self._local.depth, self._pid = conn, 0, os.getpid()
        return conn

    @contextmanager
    def atomic(self) -> Iterator[SharedState]:
        """Operations inside run as one write transaction (nested calls join the outer one)."""
        conn = self._connection()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield self
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield self
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def get(self, key: str) -> bytes | None:
        row = (
            self._connection()
            .execute(
                "SELECT value FROM shared_state WHERE key = ? AND expires_at > ?",
                (key, time.time()),
            )
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def set(self, key: str, value: bytes, *, ttl: float, nx: bool = False) -> bool:
        """Store `value` for `ttl` seconds; with `nx` only where no live value exists."""
        now = time.time()
        with self.atomic():
            if nx and self.get(key) is not None:
                return False
            self._connection().execute(
                "INSERT INTO shared_state (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at",
                (key, value, now + ttl),
            )
            self._maybe_purge(now)
        return True

    def delete(self, *keys: str) -> None:
        with self.atomic():
            self._connection().executemany(
                "DELETE FROM shared_state WHERE key = ?", [(key,) for key in keys]
            )

    def incr(self, key: str, amount: int = 1, *, ttl: float) -> int:
        """Add to an integer counter (absent counts as 0); the expiry is set when it is created
        and renewed on each change, as INCR + EXPIRE on Redis."""
        with self.atomic():
            value = int(self.get(key) or 0) + amount
            self.set(key, str(value).encode(), ttl=ttl)
        return value

    def _maybe_purge(self, now: float) -> None:
        if random.random() < 1 / _PURGE_EVERY:
            self._connection().execute("DELETE FROM shared_state WHERE expires_at <= ?", (now,))

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self.atomic():
            self._connection().execute("DELETE FROM shared_state")


@functools.cache
def _store(path: str) -> SharedState:
    return SharedState(path)


def get_shared_state() -> SharedState | None:
    """The embedded default's shared store, or None when Redis holds this state."""
    if settings.REDIS_URL:
        return None
    return embedded_shared_state()


def embedded_shared_state() -> SharedState:
    """The shared store, for a caller that already knows there is no Redis (it found no
    pipelined client)."""
    return _store(str(settings.TOLLGATE_SHARED_STATE_FILE))


def shared_state_clear() -> None:
    """Forget the embedded default's shared state: the idempotency claims, rate-limit windows,
    cached answers and breakers in it (tests; Redis is flushed by the tests)."""
    store = get_shared_state()
    if store is not None:
        store.clear()
