"""Circuit breakers per (provider, credential), shared by all processes through Redis.

Closed: calls go through; each failure that says "this upstream is unwell" (5xx, timeout,
connection error, malformed reply, account out of credit) counts, a success resets the count.
After THRESHOLD failures in a row the breaker opens for COOLDOWN seconds: candidates behind it
are skipped with a note. After the cool-down it is half-open: exactly one request (a Redis SET NX
probe marker) may try; its success closes the breaker, its failure opens it again. On the
embedded default the same state machine lives in process memory.

A healthy breaker (no state in Redis) is the hot case: each process trusts that answer for
STATE_TTL_SECONDS instead of asking Redis on every request, so a breaker opened by another process
is seen within that time; a failure this process records is seen at once.
"""

import time

from django.conf import settings

from core.redis import get_pipelined_redis
from core.redis_pipelined import LuaScript

FAILURE_KINDS = frozenset({"server", "timeout", "connection", "malformed", "quota"})
STATE_TTL_SECONDS = 1.0

_RECORD_FAILURE = LuaScript(
    """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('EXPIRE', KEYS[1], 3600)
if failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'open_until', ARGV[2])
  redis.call('DEL', KEYS[2])
end
return failures
"""
)


def _threshold() -> int:
    return int(getattr(settings, "TOLLGATE_BREAKER_THRESHOLD", 5))


def _cooldown() -> float:
    return float(getattr(settings, "TOLLGATE_BREAKER_COOLDOWN_SECONDS", 30.0))


def _keys(provider: str, credential: str) -> tuple[str, str]:
    base = f"tollgate:cb:{provider}:{credential}"
    return base, base + ":probe"


_local: dict[tuple[str, str], dict] = {}
_healthy_until: dict[tuple[str, str], float] = {}  # monotonic time; Redis had no state


async def breaker_allow(*, provider: str, credential: str) -> tuple[bool, bool]:
    """(allowed, has_state): allowed when closed or this request holds the half-open probe;
    has_state tells breaker_record whether a success has anything to reset."""
    now = time.time()
    client = get_pipelined_redis()
    if client is None:
        state = _local.get((provider, credential))
        if not state:
            return True, False
        if state.get("open_until", 0) == 0:
            return True, True
        if now < state["open_until"] or state.get("probe_until", 0) > now:
            return False, True
        state["probe_until"] = now + _cooldown()
        return True, True
    ident = (provider, credential)
    if _healthy_until.get(ident, 0.0) > time.monotonic():
        return True, False
    key, probe = _keys(provider, credential)
    try:
        failures, open_until = await client.execute("HMGET", key, "failures", "open_until")
        if failures is None and open_until is None:
            _healthy_until[ident] = time.monotonic() + STATE_TTL_SECONDS
            return True, False
        if open_until is None or float(open_until) == 0:
            return True, True
        if now < float(open_until):
            return False, True
        probe_ms = int(_cooldown() * 1000)
        return bool(await client.execute("SET", probe, b"1", "NX", "PX", probe_ms)), True
    except Exception:  # Redis trouble must not stop traffic
        return True, False


async def breaker_record(
    *, provider: str, credential: str, ok: bool, has_state: bool = True
) -> None:
    if ok and not has_state:
        return
    now = time.time()
    client = get_pipelined_redis()
    if client is None:
        if ok:
            _local.pop((provider, credential), None)
            return
        state = _local.setdefault((provider, credential), {"failures": 0})
        state["failures"] += 1
        if state["failures"] >= _threshold():
            state["open_until"] = now + _cooldown()
            state["probe_until"] = 0
        return
    if not ok:
        _healthy_until.pop((provider, credential), None)
    key, probe = _keys(provider, credential)
    try:
        if ok:
            await client.execute("DEL", key, probe)
        else:
            await client.run_script(
                _RECORD_FAILURE, keys=(key, probe), args=(_threshold(), now + _cooldown())
            )
    except Exception:
        return


def breaker_reset_local() -> None:
    _local.clear()
    _healthy_until.clear()
