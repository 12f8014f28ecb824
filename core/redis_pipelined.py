"""A lean, auto-pipelining async Redis client for the gateway's per-request commands.

Why it exists (bench/README.md, "Budget reserve + settle round trip"): through redis-py's
asyncio client a command costs ~120 us here, of which ~45 us is the client itself (connection
pool lock, retry wrapper, per-command observability hooks) on top of the event loop's own round
trip. The budget reserve and settle scripts run on every request, so that cost is paid twice
per request. This client keeps one connection per event loop, writes the commands issued in one
turn of the loop in one write, and matches replies to callers in order (RESP replies come back in
the order commands were sent), so concurrent requests share the connection without a pool or a
lock: a command costs at most one write and one wake-up. Replies are parsed by hiredis (C).

Scope: the project's async Redis client: plain commands, pipelines (`execute_many`: many
commands in one write) and Lua scripts (EVALSHA, falling back to EVAL once when the server does
not know the script). No transactions, pub/sub or RESP3; sync code and Celery use redis-py.

Errors are redis-py's exception types, so callers handle both clients alike: ConnectionError
when the server cannot be reached or the connection drops (every command in flight fails with
it), TimeoutError when no reply comes within `timeout` seconds (the connection is dropped: a
late reply must not be taken for a later command's), ResponseError for a Redis error reply.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import hiredis
import redis.exceptions

# How long a lazy command may wait for company (a settlement: its hold only stays a little longer,
# which keeps a strict budget strict).
LAZY_WRITE_SECONDS = 0.002


@dataclass(frozen=True)
class LuaScript:
    """A Lua script and its SHA1, computed once (the name EVALSHA calls it by)."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        sha = hashlib.sha1(self.source.encode()).hexdigest()  # noqa: S324 (Redis's name for it)
        object.__setattr__(self, "sha", sha)


def pack_command(args) -> bytes:
    """One command in RESP: an array of bulk strings (str, bytes, int and float arguments).
    hiredis packs it in C (the Python loop was ~3% of a worker's CPU: every request sends four
    scripts with a dozen arguments each); the same bytes, ints and floats as their repr."""
    try:
        return hiredis.pack_command(tuple(args))
    except TypeError:
        kinds = ", ".join(sorted({type(arg).__name__ for arg in args}))
        raise redis.exceptions.DataError(f"Invalid Redis argument among types: {kinds}") from None


@dataclass(frozen=True)
class _Address:
    host: str
    port: int
    path: str  # unix socket path, or ""
    db: int
    username: str | None
    password: str | None
    tls: bool


def parse_redis_url(url: str) -> _Address:
    """redis://[user:password@]host[:port][/db], rediss:// (TLS) and unix://path[?db=N]."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
    query = dict(item.split("=", 1) for item in parts.query.split("&") if "=" in item)
    db = query.get("db")
    if db is None and parts.scheme != "unix":
        db = parts.path.lstrip("/") or "0"
    return _Address(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        path=parts.path if parts.scheme == "unix" else "",
        db=int(db or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=parts.scheme == "rediss",
    )


def _error(reply: redis.exceptions.ResponseError) -> redis.exceptions.ResponseError:
    message = str(reply)
    if message.startswith("NOSCRIPT"):
        return redis.exceptions.NoScriptError(message)
    return reply


class _Protocol(asyncio.Protocol):
    """One connection: replies are handed to the waiting futures in the order sent."""

    def __init__(self, on_lost) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[tuple[asyncio.Future, float]] = collections.deque()
        self.reader = hiredis.Reader(
            protocolError=redis.exceptions.InvalidResponse,
            replyError=redis.exceptions.ResponseError,
        )
        self.closed = False
        self._on_lost = on_lost
        self._outgoing: list[bytes] = []
        self._flush_at: asyncio.Handle | None = None  # the scheduled write of _outgoing
        self._flush_is_soon = False  # at the end of this turn, not after LAZY_WRITE_SECONDS

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while waiting:
            try:
                reply = self.reader.gets()
            except redis.exceptions.InvalidResponse as exc:
                self.abort(redis.exceptions.ConnectionError(f"Bad reply from Redis: {exc}"))
                return
            if reply is False:
                return
            future, _sent = waiting.popleft()
            if future.done():  # the caller was cancelled; its reply is consumed and dropped
                continue
            if isinstance(reply, redis.exceptions.ResponseError):
                future.set_exception(_error(reply))
            else:
                future.set_result(reply)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._fail_all(redis.exceptions.ConnectionError("Connection to Redis lost."))
        self._on_lost(self)

    def send(self, packed: bytes, *, lazy: bool = False) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append((future, time.monotonic()))
        self._write_soon(loop, packed, lazy=lazy)
        return future

    def send_many(self, packed: list[bytes]) -> list[asyncio.Future]:
        loop, sent = asyncio.get_running_loop(), time.monotonic()
        futures = [loop.create_future() for _ in packed]
        self.waiting.extend((future, sent) for future in futures)
        self._write_soon(loop, b"".join(packed), lazy=False)
        return futures

    def _write_soon(self, loop: asyncio.AbstractEventLoop, packed: bytes, *, lazy: bool) -> None:
        """Every command issued in one turn of the event loop goes out in one write at its end:
        under load many requests issue theirs in the same turn, and each write is a system call
        (7-10% of a worker's CPU when each command had its own, bench/README.md). A lazy command
        (nobody waits on its reply: a settlement after the answer went out) waits up to
        LAZY_WRITE_SECONDS for another command's write to ride along with. Order is kept: the
        bytes go out in the order the futures were queued."""
        self._outgoing.append(packed)
        if self._flush_is_soon:
            return
        if lazy:
            if self._flush_at is None:
                self._flush_at = loop.call_later(LAZY_WRITE_SECONDS, self._flush)
            return
        if self._flush_at is not None:
            self._flush_at.cancel()
        self._flush_at = loop.call_soon(self._flush)
        self._flush_is_soon = True

    def _flush(self) -> None:
        self._flush_at, self._flush_is_soon = None, False
        outgoing, self._outgoing = self._outgoing, []
        transport = self.transport
        if not self.closed and outgoing and transport is not None:
            transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))

    def abort(self, error: Exception) -> None:
        self.closed = True
        if self._flush_at is not None:
            self._flush_at.cancel()
        self._flush_at, self._flush_is_soon, self._outgoing = None, False, []
        self._fail_all(error)
        if self.transport is not None:
            self.transport.abort()

    def _fail_all(self, error: Exception) -> None:
        while self.waiting:
            future, _sent = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


def _retrieved(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved: no "exception was never retrieved" warning


def _copy_outcome(source: asyncio.Future, target: asyncio.Future) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


class PipelinedRedis:
    """One connection per client (make one client per event loop); connects on first use and
    again after the connection is lost."""

    def __init__(self, url: str, *, timeout: float = 2.0, connect_timeout: float = 2.0) -> None:
        self.url = url
        self.address = parse_redis_url(url)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def execute(self, *args, lazy: bool = False):
        """Send one command; its reply (bytes, int, list, None). `lazy`: the caller is in no
        hurry (see _Protocol._write_soon)."""
        protocol = await self._ready()
        return await protocol.send(pack_command(args), lazy=lazy)

    async def execute_many(self, commands) -> list:
        """Several commands in one write (a pipeline, not a transaction); their replies in
        order. An error reply is raised after every reply has arrived."""
        if not commands:
            return []
        protocol = await self._ready()
        futures = protocol.send_many([pack_command(command) for command in commands])
        replies = await asyncio.gather(*futures, return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return replies

    async def run_script(self, script: LuaScript, *, keys, args, lazy: bool = False):
        """EVALSHA, and EVAL once if the server has not loaded the script (it then has it)."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args, lazy=lazy)
        except redis.exceptions.NoScriptError:
            return await self.execute("EVAL", script.source, len(keys), *keys, *args, lazy=lazy)

    def script_soon(self, script: LuaScript, *, keys, args, lazy: bool = False) -> asyncio.Future:
        """run_script for a caller with more to do before it needs the reply: the command is
        queued now (it goes out with the commands of this turn) and the future of its reply is
        returned, no task made. Its exception, if nobody awaits it, is dropped silently.
        Not connected yet: a task connects and sends."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            connecting = asyncio.ensure_future(
                self.run_script(script, keys=keys, args=args, lazy=lazy)
            )
            connecting.add_done_callback(_retrieved)
            return connecting
        if self._watchdog is None:
            self._arm_watchdog()
        reply = asyncio.get_running_loop().create_future()
        reply.add_done_callback(_retrieved)
        sent = protocol.send(
            pack_command(("EVALSHA", script.sha, len(keys), *keys, *args)), lazy=lazy
        )

        def relay(sent: asyncio.Future) -> None:
            if reply.done():  # cancelled by its caller
                return
            error = sent.exception()
            if isinstance(error, redis.exceptions.NoScriptError):  # load it with EVAL, once
                retry = asyncio.ensure_future(
                    self.execute("EVAL", script.source, len(keys), *keys, *args, lazy=lazy)
                )
                retry.add_done_callback(lambda done: _copy_outcome(done, reply))
            else:
                _copy_outcome(sent, reply)

        sent.add_done_callback(relay)
        return reply

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        protocol, self._protocol = self._protocol, None
        if protocol is not None and not protocol.closed:
            protocol.closed = True
            if protocol.transport is not None:
                protocol.transport.close()

    async def _ready(self) -> _Protocol:
        """The open connection (connecting first if needed), with the timeout watchdog armed."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        if self._watchdog is None:
            self._arm_watchdog()
        return protocol

    async def _connect(self) -> _Protocol:
        if self._connecting is not None:  # another caller is connecting: share its connection
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            protocol = await asyncio.wait_for(self._open(loop), self.connect_timeout)
        except (TimeoutError, OSError, redis.exceptions.RedisError) as exc:
            error = (
                exc
                if isinstance(exc, redis.exceptions.ConnectionError)
                else redis.exceptions.ConnectionError(f"Cannot connect to Redis: {exc}")
            )
            self._connecting.set_exception(error)
            self._connecting.exception()  # retrieved: no "never retrieved" warning
            raise error from exc
        finally:
            connecting, self._connecting = self._connecting, None
        self._protocol = protocol
        connecting.set_result(protocol)
        return protocol

    async def _open(self, loop) -> _Protocol:
        address = self.address
        tls = ssl.create_default_context() if address.tls else None
        if address.path:
            _transport, protocol = await loop.create_unix_connection(
                lambda: _Protocol(self._lost), address.path
            )
        else:
            _transport, protocol = await loop.create_connection(
                lambda: _Protocol(self._lost), address.host, address.port, ssl=tls
            )
        handshake = []
        if address.password is not None:
            auth = ("AUTH", address.username, address.password) if address.username else None
            handshake.append(protocol.send(pack_command(auth or ("AUTH", address.password))))
        if address.db:
            handshake.append(protocol.send(pack_command(("SELECT", address.db))))
        try:
            for reply in handshake:
                await reply
        except redis.exceptions.ResponseError as exc:
            protocol.abort(redis.exceptions.ConnectionError(str(exc)))
            raise redis.exceptions.ConnectionError(f"Redis refused the connection: {exc}") from exc
        return protocol

    def _lost(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None

    def _arm_watchdog(self) -> None:
        """One timer per client, not one per command: every `timeout`/4 seconds while commands
        are in flight, drop the connection if the oldest has waited longer than `timeout`."""
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self.timeout / 4, self._check_timeouts)

    def _check_timeouts(self) -> None:
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or protocol.closed or not protocol.waiting:
            return
        _future, sent = protocol.waiting[0]
        if time.monotonic() - sent > self.timeout:
            protocol.abort(redis.exceptions.TimeoutError("Timeout reading from Redis."))
            self._protocol = None
            return
        self._arm_watchdog()
