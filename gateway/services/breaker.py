"""Circuit breakers per (provider, credential), shared by all processes through Redis.

Closed: calls go through; each failure that says "this upstream is unwell" (5xx, timeout,
connection error, malformed reply, account out of credit) counts, a success resets the count.
After THRESHOLD failures in a row the breaker opens for COOLDOWN seconds: candidates behind it
are skipped with a note. After the cool-down it is half-open: exactly one request (a Redis SET NX
probe marker) may try; its success closes the breaker, its failure opens it again. On the
embedded default the same state lives in the file every process shares (core/shared_state.py).

A healthy breaker (no state in Redis) is the hot case: each process trusts that answer for
STATE_TTL_SECONDS instead of asking Redis on every request, so a breaker opened by another process
is seen within that time; a failure this process records is seen at once. The keys, and the
state read for the providers health API and /metrics, are in core/breaker_state.py.
"""

import time

import orjson
from django.conf import settings

from core.breaker_state import breaker_keys
from core.redis import get_pipelined_redis
from core.redis_pipelined import LuaScript
from core.shared_state import embedded_shared_state, shared_state_clear

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
    return int(settings.TOLLGATE_BREAKER_THRESHOLD)


def _cooldown() -> float:
    return float(settings.TOLLGATE_BREAKER_COOLDOWN_SECONDS)


_healthy_until: dict[tuple[str, str], float] = {}  # monotonic time; no state was stored


async def breaker_allow(*, provider: str, credential: str) -> tuple[bool, bool]:
    """(allowed, has_state): allowed when closed or this request holds the half-open probe;
    has_state tells breaker_record whether a success has anything to reset."""
    ident = (provider, credential)
    if _healthy_until.get(ident, 0.0) > time.monotonic():
        return True, False
    now = time.time()
    client = get_pipelined_redis()
    key, probe = breaker_keys(provider, credential)
    try:
        if client is None:
            failures, open_until = _shared_read(key)
        else:
            failures, open_until = await client.execute("HMGET", key, "failures", "open_until")
        if failures is None and open_until is None:
            _healthy_until[ident] = time.monotonic() + STATE_TTL_SECONDS
            return True, False
        if open_until is None or float(open_until) == 0:
            return True, True
        if now < float(open_until):
            return False, True
        if client is None:
            return embedded_shared_state().set(probe, b"1", ttl=_cooldown(), nx=True), True
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
    if not ok:
        _healthy_until.pop((provider, credential), None)
    client = get_pipelined_redis()
    key, probe = breaker_keys(provider, credential)
    try:
        if client is None:
            _shared_record(key, probe, ok=ok, open_until=now + _cooldown())
        elif ok:
            await client.execute("DEL", key, probe)
        else:
            await client.run_script(
                _RECORD_FAILURE, keys=(key, probe), args=(_threshold(), now + _cooldown())
            )
    except Exception:
        return


def _shared_read(key: str) -> tuple[int | None, float | None]:
    """HMGET failures open_until, on the embedded default's shared file."""
    raw = embedded_shared_state().get(key)
    if raw is None:
        return None, None
    state = orjson.loads(raw)
    return state.get("failures"), state.get("open_until")


def _shared_record(key: str, probe: str, *, ok: bool, open_until: float) -> None:
    """The _RECORD_FAILURE script (or DEL on success) on the embedded default's shared file."""
    store = embedded_shared_state()
    if ok:
        store.delete(key, probe)
        return
    with store.atomic():
        state = orjson.loads(store.get(key) or b"{}")
        state["failures"] = state.get("failures", 0) + 1
        if state["failures"] >= _threshold():
            state["open_until"] = open_until
            store.delete(probe)
        store.set(key, orjson.dumps(state), ttl=3600)


def breaker_reset_local() -> None:
    """Forget this process's trust in healthy breakers and the embedded default's shared state
    (tests; Redis is flushed by the tests)."""
    _healthy_until.clear()
    shared_state_clear()
