"""Requests and tokens per minute per API key, exact across processes (Redis, atomic Lua).

Fixed one-minute windows. Admission counts the request and its estimated input tokens; the
actual tokens are added when the response is known, so the next requests see the real spend.
A single request larger than the whole token limit is let through only into an empty window.
On the embedded default the same counters live in the file every process shares
(core/shared_state.py), checked and counted in one transaction like the script.
"""

import math
import time

from core.redis import get_pipelined_redis
from core.redis_pipelined import LuaScript
from core.shared_state import get_shared_state

_COUNTER_TTL_SECONDS = 120  # a window's counters outlive it, as the scripts' EXPIRE 120

_ADMIT = LuaScript(
    """
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local r = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = tonumber(redis.call('GET', KEYS[2]) or '0')
if rpm > 0 and r + 1 > rpm then return 1 end
if tpm > 0 and t > 0 and t + tokens > tpm then return 2 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 120)
if tokens > 0 then
  redis.call('INCRBY', KEYS[2], tokens)
end
redis.call('EXPIRE', KEYS[2], 120)
return 0
"""
)
_ADD_TOKENS = LuaScript(
    """
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], 120)
"""
)


def _window() -> tuple[int, int]:
    now = time.time()
    window = int(now // 60)
    retry_after = max(1, math.ceil((window + 1) * 60 - now))
    return window, retry_after


def _keys(key_id: int, window: int) -> tuple[str, str]:
    return f"tollgate:rl:{key_id}:{window}:r", f"tollgate:rl:{key_id}:{window}:t"


async def rate_limit_admit(
    *, key_id: int, rpm_limit: int | None, tpm_limit: int | None, tokens: int
) -> int | None:
    """None when admitted, else the Retry-After seconds (until the window ends)."""
    if not rpm_limit and not tpm_limit:
        return None
    window, retry_after = _window()
    rkey, tkey = _keys(key_id, window)
    client = get_pipelined_redis()
    if client is None:
        return _admit_shared(rkey, tkey, rpm_limit or 0, tpm_limit or 0, tokens, retry_after)
    try:
        verdict = await client.run_script(
            _ADMIT, keys=(rkey, tkey), args=(rpm_limit or 0, tpm_limit or 0, tokens)
        )
    except Exception:  # Redis trouble: admit rather than fail every request (budgets still hold)
        return None
    return None if int(verdict) == 0 else retry_after


async def rate_limit_add_tokens(*, key_id: int, tpm_limit: int | None, tokens: int) -> None:
    """Add tokens learnt after the call (output, and input beyond the estimate)."""
    if not tpm_limit or tokens <= 0:
        return
    window, _ = _window()
    _, tkey = _keys(key_id, window)
    client = get_pipelined_redis()
    if client is None:
        get_shared_state().incr(tkey, tokens, ttl=_COUNTER_TTL_SECONDS)
        return
    try:
        await client.run_script(_ADD_TOKENS, keys=(tkey,), args=(tokens,))
    except Exception:
        return


def _admit_shared(
    rkey: str, tkey: str, rpm: int, tpm: int, tokens: int, retry_after: int
) -> int | None:
    """The _ADMIT script's check-and-count on the embedded default's shared file."""
    store = get_shared_state()
    with store.atomic():
        r, t = int(store.get(rkey) or 0), int(store.get(tkey) or 0)
        if (rpm and r + 1 > rpm) or (tpm and t > 0 and t + tokens > tpm):
            return retry_after
        store.incr(rkey, 1, ttl=_COUNTER_TTL_SECONDS)
        store.incr(tkey, tokens, ttl=_COUNTER_TTL_SECONDS)
    return None
