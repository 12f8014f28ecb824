"""Requests and tokens per minute per API key, exact across processes (Redis, atomic Lua).

Fixed one-minute windows. Admission counts the request and its estimated input tokens; the
actual tokens are added when the response is known, so the next requests see the real spend.
A single request larger than the whole token limit is let through only into an empty window.
On the embedded default the same counters live in the file every process shares
(core/shared_state.py), checked and counted in one transaction like the script.

`rate_limit_start` sends the check-and-count and returns at once (`PendingAdmission`), so the
chat pipeline's budget reservation goes out in the same write and both replies come back in
one read. Each process remembers which keys it saw refused in the current window
(`rate_limit_refused_lately`): the chat pipeline checks a key's limit alongside its budget
reservation (gateway/services/admission.py), and a key being refused is checked first instead,
so that its refused requests take no budget hold. The memory only picks that order; Redis (or
the shared file) decides every request.
"""

import asyncio
import math
import time

from core.redis import get_pipelined_redis
from core.redis_pipelined import LuaScript
from core.shared_state import embedded_shared_state

_COUNTER_TTL_SECONDS = 120  # a window's counters outlive it, as the scripts' EXPIRE 120
_REFUSALS_KEPT = 10_000  # keys remembered as refused (per process) before the memory starts over
_refused_in_window: dict[int, int] = {}  # key id -> the window it was last refused in

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


class PendingAdmission:
    """A key's check-and-count with its command sent: `await retry_after()` for the verdict."""

    __slots__ = ("_key_id", "_refused", "_reply", "_retry_after", "_window")

    def __init__(
        self,
        *,
        key_id: int,
        window: int,
        retry_after: int,
        reply: asyncio.Future | None = None,
        refused: bool = False,
    ) -> None:
        self._key_id, self._window, self._retry_after = key_id, window, retry_after
        self._reply, self._refused = reply, refused
        if refused:
            _remember_refusal(key_id, window)

    @property
    def decided(self) -> bool:
        """The verdict is known (no limit, or the embedded default's file answered at once)."""
        return self._reply is None

    async def retry_after(self) -> int | None:
        """None when admitted, else the Retry-After seconds (until the window ends)."""
        reply, self._reply = self._reply, None
        if reply is not None:
            try:
                self._refused = int(await reply) != 0
            except Exception:  # Redis trouble: admit rather than fail every request (budgets hold)
                self._refused = False
            if self._refused:
                _remember_refusal(self._key_id, self._window)
        return self._retry_after if self._refused else None


_NO_LIMIT = PendingAdmission(key_id=0, window=0, retry_after=0)  # always admitted


def rate_limit_start(
    *, key_id: int, rpm_limit: int | None, tpm_limit: int | None, tokens: int
) -> PendingAdmission:
    """Send the key's check-and-count now (it goes out with this turn's other Redis commands);
    the verdict is awaited later (PendingAdmission.retry_after)."""
    if not rpm_limit and not tpm_limit:
        return _NO_LIMIT
    window, retry_after = _window()
    rkey, tkey = _keys(key_id, window)
    client = get_pipelined_redis()
    if client is None:
        refused = _admit_shared(rkey, tkey, rpm_limit or 0, tpm_limit or 0, tokens)
        return PendingAdmission(
            key_id=key_id, window=window, retry_after=retry_after, refused=refused
        )
    reply = client.script_soon(
        _ADMIT, keys=(rkey, tkey), args=(rpm_limit or 0, tpm_limit or 0, tokens)
    )
    return PendingAdmission(key_id=key_id, window=window, retry_after=retry_after, reply=reply)


async def rate_limit_admit(
    *, key_id: int, rpm_limit: int | None, tpm_limit: int | None, tokens: int
) -> int | None:
    """Check and count at once: None when admitted, else the Retry-After seconds."""
    pending = rate_limit_start(
        key_id=key_id, rpm_limit=rpm_limit, tpm_limit=tpm_limit, tokens=tokens
    )
    return await pending.retry_after()


def rate_limit_refused_lately(*, key_id: int) -> bool:
    """Whether this process saw the key refused in the current window (module doc)."""
    return _refused_in_window.get(key_id) == _window()[0]


def _remember_refusal(key_id: int, window: int) -> None:
    if len(_refused_in_window) >= _REFUSALS_KEPT:
        _refused_in_window.clear()
    _refused_in_window[key_id] = window


def rate_limit_add_tokens(*, key_id: int, tpm_limit: int | None, tokens: int) -> None:
    """Add tokens learnt after the call (output, and input beyond the estimate). Sent lazily and
    not awaited: the answer has gone out, so the command waits to go out with the budget
    settlement's write; a failure only leaves the window's count lower."""
    if not tpm_limit or tokens <= 0:
        return
    window, _ = _window()
    _, tkey = _keys(key_id, window)
    client = get_pipelined_redis()
    if client is None:
        embedded_shared_state().incr(tkey, tokens, ttl=_COUNTER_TTL_SECONDS)
        return
    client.script_soon(_ADD_TOKENS, keys=(tkey,), args=(tokens,), lazy=True)


def _admit_shared(rkey: str, tkey: str, rpm: int, tpm: int, tokens: int) -> bool:
    """The _ADMIT script's check-and-count on the embedded default's shared file: refused?"""
    store = embedded_shared_state()
    with store.atomic():
        r, t = int(store.get(rkey) or 0), int(store.get(tkey) or 0)
        if (rpm and r + 1 > rpm) or (tpm and t > 0 and t + tokens > tpm):
            return True
        store.incr(rkey, 1, ttl=_COUNTER_TTL_SECONDS)
        store.incr(tkey, tokens, ttl=_COUNTER_TTL_SECONDS)
    return False
