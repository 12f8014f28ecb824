"""When budget counters change hands: Redis became unreachable (the database counters take
over), came back, or lost its data (its counters are seeded from the database again).

A counter is only as good as what it is rebuilt from, so at each change this process first
makes what it knows count (exact for one process; with several, each does it at its first
budget operation after the change, and for that moment one can admit against counters that
lack another's requests in flight):
- its usage records that may not be in the database yet are written there
  (`usage_records_secure`), so the truth a counter is seeded or refreshed from includes them.
  A request's record is made only after its settlement (plain_call.py, streaming.py), so a
  record in the truth is never also a settlement still to come;
- its open reservations (requests in flight) are held again on the counters now in use: moved
  to database holds when Redis goes, back onto Redis when it returns, and held again on Redis
  counters that were seeded anew (REHOLD_LUA: once per reservation);
- database counters did not follow Redis: all are refreshed from the truth on their next use
  after Redis goes, and when it returns every counter the database used meanwhile raises its
  Redis counter (never lowers it);
- a reservation settled on the database counters may still hold on Redis (held there before
  the change, or held again on counters seeded anew just before it): when Redis returns its
  hold there is given back (SETTLE_LUA with nothing spent), not left until its expiry.
In database mode this process tries Redis again at most once every PROBE_SECONDS.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from datetime import timedelta
from typing import TYPE_CHECKING

import redis.exceptions
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from billing.services.counters_db import (
    db_counters_mark_stale,
    db_counters_used_since,
    db_holds_drop,
    db_holds_take_over,
)
from billing.services.counters_redis import (
    REHOLD_LUA,
    SEED_LUA,
    SETTLE_LUA,
    rehold_args,
    seed_args,
    seed_lock_key,
    seeds_key,
    settle_args,
    tenant_keys,
)
from billing.services.spend_truth import plan_truth
from billing.services.usage import usage_records_secure
from core.redis_pipelined import LuaScript

if TYPE_CHECKING:
    from datetime import datetime

    from billing.services.counter_plans import CounterPlan
    from billing.services.reservation import Reservation

logger = logging.getLogger(__name__)

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
PROBE_SECONDS = 1.0
SEED_WAIT_SECONDS = 2.0
MAX_RELEASES = 100_000  # beyond this, holds left on Redis wait for their expiry

_REHOLD = LuaScript(REHOLD_LUA)
_SEED = LuaScript(SEED_LUA)
SETTLE_SCRIPT = LuaScript(SETTLE_LUA)  # budgets.py settles with it too
_open: dict[str, Reservation] = {}  # this process's reservations until settled or released
_release_on_return: dict[str, Reservation] = {}  # settled on the database, maybe held on Redis
_mode: dict = {"url": "", "since": None, "probe_at": 0.0}  # database mode for a REDIS_URL
_probes: set[asyncio.Task] = set()
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def reservation_opened(reservation: Reservation) -> None:
    _open[reservation.id] = reservation


def reservation_closed(reservation: Reservation) -> None:
    _open.pop(reservation.id, None)


def reservation_settled_on_database(reservation: Reservation) -> None:
    """Settled on the database counters in database mode: its Redis hold, if it has one, is
    given back when Redis returns (`_leave`)."""
    if len(_release_on_return) < MAX_RELEASES:
        _release_on_return[reservation.id] = reservation


def failover_reset_local() -> None:
    """Forget this process's failover state (tests: each starts on its own services)."""
    _open.clear()
    _release_on_return.clear()
    _mode.update(url="", since=None, probe_at=0.0)


def in_database_mode() -> bool:
    url = _mode["url"]  # "" unless in database mode: no settings read on the hot path
    return bool(url) and url == settings.REDIS_URL


def _lock() -> asyncio.Lock:
    """One per event loop: mode changes of concurrent requests run one at a time."""
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


def failover_lock() -> asyncio.Lock:
    """Held around every budget operation in database mode and every change of mode, so none
    runs halfway through a change (the hot path on Redis never takes it)."""
    return _lock()


async def enter_database_mode() -> None:
    """Redis is unreachable: the database counters take over, with this process's open Redis
    reservations held on them."""
    async with _lock():
        first = not in_database_mode()
        if first:
            _mode.update(url=settings.REDIS_URL, since=timezone.now())
            logger.warning("Redis unreachable: budgets run on the database counters")
        _mode["probe_at"] = time.monotonic() + PROBE_SECONDS
        moving = [r for r in _open.values() if r.backend == "redis"]
        for reservation in moving:
            reservation.backend = "db"
        if first or moving:
            try:
                await sync_to_async(_take_over)(moving, first=first)
            except Exception:  # the database is down as well: those holds are not kept
                logger.exception("budget holds could not move to the database")


def _take_over(moving: list[Reservation], *, first: bool) -> None:
    if first:
        try:
            usage_records_secure()
        except Exception:
            logger.exception("usage records could not be written to the database")
        db_counters_mark_stale()
    db_holds_take_over(
        holds=[
            (r.id, r.plans, r.tz, r.micros, r.tokens, _expiry(r.expires_ms))
            for r in moving
            if r.plans
        ]
    )


def _expiry(expires_ms: int) -> datetime:
    return timezone.now() + timedelta(milliseconds=max(expires_ms - time.time() * 1000, 0))


async def still_database_mode(client) -> bool:
    """With failover_lock() held: whether budgets stay on the database counters. When this
    process is due to try Redis again, a probe runs beside the request (a Redis that does not
    answer must not hold up the requests on the database) and ends database mode if it can."""
    if not in_database_mode():
        return False
    if time.monotonic() >= _mode["probe_at"]:
        _mode["probe_at"] = time.monotonic() + PROBE_SECONDS
        probe = asyncio.get_running_loop().create_task(_probe(client))
        _probes.add(probe)
        probe.add_done_callback(_probes.discard)
    return True


async def _probe(client) -> None:
    try:
        await client.execute("PING")
    except REDIS_DOWN:
        return
    async with _lock():
        if not in_database_mode():
            return
        try:
            await _leave(client)
        except REDIS_DOWN:
            return
        _mode.update(url="", since=None)
    logger.warning("Redis is back: budgets run on the Redis counters")


async def _leave(client) -> None:
    since = _mode["since"] - timedelta(seconds=1)
    rows = await sync_to_async(db_counters_used_since)(since=since)
    for tenant_id, group in itertools.groupby(sorted(rows), key=lambda row: row[0]):
        group = list(group)
        args: list = []
        for _tenant, _key, micros, tokens, expire_at in group:
            args += [micros, tokens, expire_at]
        keys = [row[1] for row in group] + [seeds_key(tenant_id)]
        await client.run_script(_SEED, keys=keys, args=[*args, "rebuild"])
    moving = [r for r in _open.values() if r.backend == "db" and r.plans]
    plans = {plan.key: (plan, r.tz) for r in moving for plan in r.plans}
    unseeded = [
        entry
        for entry, seeded in zip(
            plans.values(),
            await client.execute_many([("HEXISTS", key, "seeded") for key in plans]),
            strict=True,
        )
        if not seeded
    ]
    by_tenant = sorted(unseeded, key=lambda entry: entry[0].tenant_id)
    for _tenant, group in itertools.groupby(by_tenant, key=lambda entry: entry[0].tenant_id):
        group = list(group)
        await counters_seed(client, [plan for plan, _ in group], group[0][1], rehold=False)
    await asyncio.gather(*(_rehold(client, r) for r in moving))
    for reservation in moving:
        reservation.backend = "redis"
    await sync_to_async(db_holds_drop)(reservation_ids=[r.id for r in moving])
    settled = list(_release_on_return.values())
    await asyncio.gather(*(_give_back(client, r) for r in settled))
    for reservation in settled:
        _release_on_return.pop(reservation.id, None)


async def _give_back(client, reservation: Reservation) -> None:
    rz, rv = tenant_keys(reservation.tenant_id)
    await client.run_script(
        SETTLE_SCRIPT,
        keys=[rz, rv, *reservation.holds],
        args=settle_args(reservation_id=reservation.id, micros=0, tokens=0),
    )


async def _rehold(client, reservation: Reservation) -> None:
    rz, rv = tenant_keys(reservation.tenant_id)
    await client.run_script(
        _REHOLD,
        keys=[rz, rv, *reservation.holds],
        args=rehold_args(
            reservation_id=reservation.id,
            expires_at_ms=reservation.expires_ms,
            held=reservation.held,
        ),
    )


async def counters_seed(client, plans: list[CounterPlan], tz, *, rehold: bool = True) -> int:
    """Seed counters that Redis does not have from the database truth, this process's
    records secured first; then hold its open reservations on them again. One process
    computes (SET NX lock); the others wait for its marker; HSETNX makes the write one-winner
    regardless."""
    if not plans:
        return 0
    tenant_id = plans[0].tenant_id
    lock = seed_lock_key(tenant_id)
    seeded = 0
    got_lock = await client.execute("SET", lock, "1", "NX", "PX", 5000)
    waited = False
    if not got_lock:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SEED_WAIT_SECONDS
        while loop.time() < deadline and not waited:
            await asyncio.sleep(0.005)
            waited = await _all_seeded(client, plans)
    if not waited:  # we hold the lock, or its holder is gone: seed (HSETNX: one winner)
        try:
            values = await sync_to_async(_secured_truths)(plans, tz)
            keys, args = seed_args(plans=plans, values=values, mode="seed")
            seeded = int(await client.run_script(_SEED, keys=keys, args=args))
        finally:
            if got_lock:
                await client.execute("DEL", lock)
    if rehold:
        keys = {plan.key for plan in plans}
        held = [r for r in _open.values() if r.backend == "redis" and keys.intersection(r.holds)]
        await asyncio.gather(*(_rehold(client, r) for r in held))
    return seeded


async def _all_seeded(client, plans) -> bool:
    return all(await client.execute_many([("HEXISTS", plan.key, "seeded") for plan in plans]))


def _secured_truths(plans, tz) -> list[tuple[int, int]]:
    try:
        usage_records_secure()
    except Exception:
        logger.exception("usage records could not be written before seeding budget counters")
    return [plan_truth(plan=plan, tz=tz) for plan in plans]
