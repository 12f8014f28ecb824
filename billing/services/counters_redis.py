"""Budget counters on Redis: the Lua scripts, the keys, and the arguments each script takes.

Layout, all keys of a tenant in one hash slot (`{t:ID}`):
`tg:bud:{t:ID}:<scope>:<id>:<period key>` hash: sm/st (settled micros/tokens), rm/rt (held by
open reservations), seeded (marker: set once per counter by the one seeding writer);
`...:rz` sorted set of open reservation ids by expiry, `...:rv` hash id -> its holds (JSON).

- Expiry: each reserve first gives back every reservation whose expiry has passed (its process
  died or forgot to settle), inside the same Lua script, so held sums never leak. A counter
  itself expires 3 days after its period ends, and at least a day after it is seeded by Redis's
  clock (set once, when it is seeded).
- Seeding: a counter that does not exist in Redis is seeded from the database truth
  (spend_truth.py) once (SET NX lock, HSETNX marker: one writer wins). The scripts run from
  budgets.py (async, hot path) and counters_rebuild.py (sync).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

import orjson

if TYPE_CHECKING:
    from billing.services.counter_plans import CounterPlan

# How long a settled reservation that was not open stays known (SETTLE_LUA): longer than a
# command can wait for its reply and a reconnect (core/redis_pipelined.py: 2 s each).
TOMBSTONE_SECONDS = 30.0

_GIVE_BACK_EXPIRED = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
for _, rid in ipairs(expired) do
  local held = redis.call('HGET', KEYS[2], rid)
  if held then
    for _, h in ipairs(cjson.decode(held)) do
      if redis.call('EXISTS', h[1]) == 1 then
        redis.call('HINCRBY', h[1], 'rm', 0 - h[2])
        redis.call('HINCRBY', h[1], 'rt', 0 - h[3])
      end
    end
    redis.call('HDEL', KEYS[2], rid)
  end
  redis.call('ZREM', KEYS[1], rid)
end
"""

# KEYS: rz, rv, counters...  ARGV: now_ms, expiry_ms, reservation id, holds JSON, micros,
# tokens, then per counter: limit micros (-1: none), limit tokens (-1: none). A counter holds only
# what it limits (rm without a spend limit, rt without a token limit, would never be read).
# A counter's expiry is set once, when it is seeded.
RESERVE_LUA = (
    _GIVE_BACK_EXPIRED
    + """
local n = #KEYS - 2
local m, t = tonumber(ARGV[5]), tonumber(ARGV[6])
local state = {}
local missing = {}
for j = 1, n do
  local v = redis.call('HMGET', KEYS[2 + j], 'seeded', 'sm', 'st', 'rm', 'rt')
  if not v[1] then table.insert(missing, j - 1) end
  state[j] = v
end
if #missing > 0 then return {'seed', cjson.encode(missing)} end
for j = 1, n do
  local lm, lt = tonumber(ARGV[5 + j * 2]), tonumber(ARGV[6 + j * 2])
  local v = state[j]
  if lm >= 0 then
    local um = tonumber(v[2] or '0') + tonumber(v[4] or '0')
    if um + m > lm or um >= lm then return {'over', tostring(j - 1), 'usd'} end
  end
  if lt >= 0 then
    local ut = tonumber(v[3] or '0') + tonumber(v[5] or '0')
    if ut + t > lt or ut >= lt then return {'over', tostring(j - 1), 'tokens'} end
  end
end
for j = 1, n do
  if m > 0 and tonumber(ARGV[5 + j * 2]) >= 0 then redis.call('HINCRBY', KEYS[2 + j], 'rm', m) end
  if t > 0 and tonumber(ARGV[6 + j * 2]) >= 0 then redis.call('HINCRBY', KEYS[2 + j], 'rt', t) end
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return {'ok'}
"""
)

# KEYS: rz, rv, counters of the reservation...  ARGV: reservation id, micros, tokens, tombstone
# expiry ms. Gives back what the reservation holds (its rv entry says where and how much) if it
# is still open (not expired, not lost with a Redis that lost its data), and adds the actual
# spend to every seeded counter. A reservation found not open leaves an empty entry (`[]`, given
# back like any expired one at the tombstone's expiry): a re-hold of it that its process issued
# before this settlement but that reached Redis after it (the counters seeded anew meanwhile,
# budget_failover.py) then finds it known and holds nothing, where it would hold until the
# reservation's expiry. Returns {1 if it was open else 0, JSON list of the counters not
# seeded}: those did not count the spend, and must be seeded and settled again (budgets.py).
SETTLE_LUA = """
local held = redis.call('HGET', KEYS[2], ARGV[1])
local open = 0
if held then
  open = 1
  for _, h in ipairs(cjson.decode(held)) do
    if redis.call('EXISTS', h[1]) == 1 then
      if h[2] > 0 then redis.call('HINCRBY', h[1], 'rm', 0 - h[2]) end
      if h[3] > 0 then redis.call('HINCRBY', h[1], 'rt', 0 - h[3]) end
    end
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], '[]')
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
local m, t = tonumber(ARGV[2]), tonumber(ARGV[3])
local missing = {}
for i = 3, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'seeded') == 1 then
    if m > 0 then redis.call('HINCRBY', KEYS[i], 'sm', m) end
    if t > 0 then redis.call('HINCRBY', KEYS[i], 'st', t) end
  else
    table.insert(missing, i - 3)
  end
end
return {open, cjson.encode(missing)}
"""

# KEYS: rz, rv, counters...  ARGV: reservation id, expiry ms, then per counter what the
# reservation holds on it (micros, tokens). Holds an open reservation again on counters that
# lost its hold (Redis lost its data, or the reservation was on the database counters): on the
# seeded counters, once (a reservation Redis knows already is left alone). Returns 1 if held.
REHOLD_LUA = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
local applied = {}
for i = 3, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'seeded') == 1 then
    local hm, ht = tonumber(ARGV[i * 2 - 3]), tonumber(ARGV[i * 2 - 2])
    if hm > 0 then redis.call('HINCRBY', KEYS[i], 'rm', hm) end
    if ht > 0 then redis.call('HINCRBY', KEYS[i], 'rt', ht) end
    table.insert(applied, {KEYS[i], hm, ht})
  end
end
if #applied == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(applied))
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""

# KEYS: counters, then the stats key.  ARGV per counter: micros, tokens, expire-at; last: mode
# ("seed": only where not seeded yet, one writer wins; "rebuild": also raise a counter that is
# behind the database). Returns how many counters were seeded. A counter lives at least a day
# by Redis's own clock: a gateway whose clock is behind Redis's by more than the grace period
# must not seed counters that vanish at once (every reserve would then fall back to the
# database).
SEED_LUA = """
local n = #KEYS - 1
local mode = ARGV[n * 3 + 1]
local seeded = 0
local earliest = tonumber(redis.call('TIME')[1]) + 86400
for i = 1, n do
  local m, t = tonumber(ARGV[i * 3 - 2]), tonumber(ARGV[i * 3 - 1])
  if redis.call('HSETNX', KEYS[i], 'seeded', '1') == 1 then
    redis.call('HSET', KEYS[i], 'sm', m, 'st', t)
    redis.call('EXPIREAT', KEYS[i], math.max(tonumber(ARGV[i * 3]), earliest))
    seeded = seeded + 1
  elseif mode == 'rebuild' then
    local v = redis.call('HMGET', KEYS[i], 'sm', 'st')
    if tonumber(v[1] or '0') < m then redis.call('HSET', KEYS[i], 'sm', m) end
    if tonumber(v[2] or '0') < t then redis.call('HSET', KEYS[i], 'st', t) end
  end
end
if seeded > 0 then redis.call('INCRBY', KEYS[n + 1], seeded) end
return seeded
"""


def tenant_keys(tenant_id: int) -> tuple[str, str]:
    base = f"tg:bud:{{t:{tenant_id}}}"
    return f"{base}:rz", f"{base}:rv"


def seeds_key(tenant_id: int) -> str:
    """Counts how many counters were seeded from the database (observability and tests)."""
    return f"tg:bud:{{t:{tenant_id}}}:seeds"


def seed_lock_key(tenant_id: int) -> str:
    return f"tg:bud:{{t:{tenant_id}}}:seedlock"


def reserve_args(
    *,
    plans: list[CounterPlan],
    reservation_id: str,
    micros: int,
    tokens: int,
    held: list[tuple[int, int]],
    ttl_seconds: float,
) -> tuple[list[str], list]:
    """`held`: held_amounts() of the same plans, kept on the reservation for its settlement."""
    rz, rv = tenant_keys(plans[0].tenant_id)
    now_ms = int(time.time() * 1000)
    holds = orjson.dumps([[plan.key, *amounts] for plan, amounts in zip(plans, held, strict=True)])
    args: list = [now_ms, now_ms + int(ttl_seconds * 1000), reservation_id, holds, micros, tokens]
    for plan in plans:
        args += [
            -1 if plan.limit_micros is None else plan.limit_micros,
            -1 if plan.limit_tokens is None else plan.limit_tokens,
        ]
    return [rz, rv, *(plan.key for plan in plans)], args


def held_amounts(*, plans: list[CounterPlan], micros: int, tokens: int) -> list[tuple[int, int]]:
    """What a reservation holds on each counter (RESERVE_LUA): only the measures it limits."""
    return [
        (
            micros if plan.limit_micros is not None else 0,
            tokens if plan.limit_tokens is not None else 0,
        )
        for plan in plans
    ]


def settle_args(*, reservation_id: str, micros: int, tokens: int) -> list:
    return [reservation_id, micros, tokens, int((time.time() + TOMBSTONE_SECONDS) * 1000)]


def rehold_args(*, reservation_id: str, expires_at_ms: int, held: list[tuple[int, int]]) -> list:
    args: list = [reservation_id, expires_at_ms]
    for held_micros, held_tokens in held:
        args += [held_micros, held_tokens]
    return args


def seed_args(*, plans: list[CounterPlan], values: list[tuple[int, int]], mode: str):
    args: list = []
    for plan, (micros, tokens) in zip(plans, values, strict=True):
        args += [micros, tokens, plan.expire_at]
    args.append(mode)
    return [*(plan.key for plan in plans), seeds_key(plans[0].tenant_id)], args


class _IdState:
    pid: ClassVar[int] = 0
    prefix: ClassVar[str] = ""
    seq: ClassVar[Iterator[int]] = itertools.count()


def new_reservation_id() -> str:
    """Unique per reservation: a random per-process prefix (renewed after a fork) + a sequence."""
    pid = os.getpid()
    if _IdState.pid != pid:
        _IdState.pid, _IdState.prefix, _IdState.seq = pid, uuid.uuid4().hex[:16], itertools.count()
    return f"{_IdState.prefix}{next(_IdState.seq):x}"
