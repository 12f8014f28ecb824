"""Requests and tokens per minute per API key, exact across processes (Redis, atomic Lua).

Each limit is a bucket of `limit` units refilled continuously at `limit` per minute (GCRA: one
stored time per bucket, the "theoretical arrival time" at which it is full again), the way
OpenAI and Anthropic describe their own limits. A burst takes at most the bucket, whenever it
comes: fixed one-minute windows let a burst straddling a minute's turn through twice. Admission
takes one request and the estimated input tokens; the actual tokens are added when the response
is known, so the next requests see the real spend. A single request larger than the whole token
bucket is let through only into a full one (and leaves it in debt). On the embedded default the
same times live in the file every process shares (core/shared_state.py), checked and taken in
one transaction like the script, by the same arithmetic (`_verdict`).

`rate_limit_start` sends the check-and-take and returns at once (`PendingAdmission`), so the
chat pipeline's budget reservation goes out in the same write and both replies come back in
one read. Each process remembers which keys it saw refused, until their Retry-After
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
from core.shared_state import SharedState, embedded_shared_state

_PERIOD_SECONDS = 60.0  # the limits are per minute: a bucket refills fully in this time
_SLACK_SECONDS = 1e-6  # float rounding: `limit` takes of 60/limit s each fill 60 s exactly
_REFUSALS_KEPT = 10_000  # keys remembered as refused (per process) before the memory starts over
_refused_until: dict[int, float] = {}  # key id -> the time its last refusal's Retry-After ends

# The same arithmetic as _verdict, kept in step with it (the tests run both on one scenario).
_ADMIT = LuaScript(
    """
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local wait = 0
local r_tat = nil
local t_tat = nil
if rpm > 0 then
  r_tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + 60 / rpm
  wait = math.max(wait, r_tat - now - 60)
end
if tpm > 0 then
  local full_at = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), now)
  t_tat = full_at + tokens * 60 / tpm
  if tokens > tpm then
    wait = math.max(wait, full_at - now)
  else
    wait = math.max(wait, t_tat - now - 60)
  end
end
if wait > 0.000001 then return math.ceil(wait * 1000) end
local function store(key, full_at)
  local ms = math.ceil((full_at - now) * 1000) + 1000
  redis.call('SET', key, string.format('%.6f', full_at), 'PX', ms)
end
if r_tat then store(KEYS[1], r_tat) end
if t_tat and t_tat > now then store(KEYS[2], t_tat) end
return 0
"""
)
_ADD_TOKENS = LuaScript(
    """
local now = tonumber(ARGV[1])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + tonumber(ARGV[2])
local ms = math.ceil((tat - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', ms)
"""
)


def _keys(key_id: int) -> tuple[str, str]:
    return f"tollgate:rl:{key_id}:r", f"tollgate:rl:{key_id}:t"


def _verdict(
    *, now: float, request_tat: float, token_tat: float, rpm: int, tpm: int, tokens: int
) -> tuple[float, float | None, float | None]:
    """The seconds to wait (0 when admitted) and the buckets' new full-again times (None for a
    limit not set). A bucket is over when taking would push its time beyond a period ahead."""
    wait = 0.0
    new_request_tat = new_token_tat = None
    if rpm:
        new_request_tat = max(request_tat, now) + _PERIOD_SECONDS / rpm
        wait = max(wait, new_request_tat - now - _PERIOD_SECONDS)
    if tpm:
        full_at = max(token_tat, now)
        new_token_tat = full_at + tokens * _PERIOD_SECONDS / tpm
        over = full_at - now if tokens > tpm else new_token_tat - now - _PERIOD_SECONDS
        wait = max(wait, over)
    return (wait if wait > _SLACK_SECONDS else 0.0), new_request_tat, new_token_tat


class PendingAdmission:
    """A key's check-and-take with its command sent: `await retry_after()` for the verdict."""

    __slots__ = ("_key_id", "_reply", "_sent_at", "_wait_ms")

    def __init__(
        self,
        *,
        key_id: int,
        sent_at: float,
        reply: asyncio.Future | None = None,
        wait_ms: int = 0,
    ) -> None:
        self._key_id, self._sent_at = key_id, sent_at
        self._reply, self._wait_ms = reply, wait_ms
        if wait_ms:
            _remember_refusal(key_id, until=sent_at + wait_ms / 1000)

    @property
    def decided(self) -> bool:
        """The verdict is known (no limit, or the embedded default's file answered at once)."""
        return self._reply is None

    async def retry_after(self) -> int | None:
        """None when admitted, else the Retry-After seconds (until the bucket has room)."""
        reply, self._reply = self._reply, None
        if reply is not None:
            try:
                self._wait_ms = int(await reply)
            except Exception:  # Redis trouble: admit rather than fail every request (budgets hold)
                self._wait_ms = 0
            if self._wait_ms:
                _remember_refusal(self._key_id, until=self._sent_at + self._wait_ms / 1000)
        return max(1, math.ceil(self._wait_ms / 1000)) if self._wait_ms else None


_NO_LIMIT = PendingAdmission(key_id=0, sent_at=0.0)  # always admitted


def rate_limit_start(
    *, key_id: int, rpm_limit: int | None, tpm_limit: int | None, tokens: int
) -> PendingAdmission:
    """Send the key's check-and-take now (it goes out with this turn's other Redis commands);
    the verdict is awaited later (PendingAdmission.retry_after)."""
    if not rpm_limit and not tpm_limit:
        return _NO_LIMIT
    now = time.time()
    rkey, tkey = _keys(key_id)
    client = get_pipelined_redis()
    if client is None:
        wait_ms = _admit_shared(rkey, tkey, rpm_limit or 0, tpm_limit or 0, tokens, now)
        return PendingAdmission(key_id=key_id, sent_at=now, wait_ms=wait_ms)
    reply = client.script_soon(
        _ADMIT, keys=(rkey, tkey), args=(now, rpm_limit or 0, tpm_limit or 0, tokens)
    )
    return PendingAdmission(key_id=key_id, sent_at=now, reply=reply)


async def rate_limit_admit(
    *, key_id: int, rpm_limit: int | None, tpm_limit: int | None, tokens: int
) -> int | None:
    """Check and take at once: None when admitted, else the Retry-After seconds."""
    pending = rate_limit_start(
        key_id=key_id, rpm_limit=rpm_limit, tpm_limit=tpm_limit, tokens=tokens
    )
    return await pending.retry_after()


def rate_limit_refused_lately(*, key_id: int) -> bool:
    """Whether this process saw the key refused and its Retry-After has not passed (module doc)."""
    return _refused_until.get(key_id, 0.0) > time.time()


def _remember_refusal(key_id: int, *, until: float) -> None:
    if len(_refused_until) >= _REFUSALS_KEPT:
        _refused_until.clear()
    _refused_until[key_id] = until


def rate_limit_add_tokens(*, key_id: int, tpm_limit: int | None, tokens: int) -> None:
    """Take tokens learnt after the call (output, and input beyond the estimate). Sent lazily
    and not awaited: the answer has gone out, so the command waits to go out with the budget
    settlement's write; a failure only leaves the bucket fuller."""
    if not tpm_limit or tokens <= 0:
        return
    now = time.time()
    seconds = tokens * _PERIOD_SECONDS / tpm_limit
    _, tkey = _keys(key_id)
    client = get_pipelined_redis()
    if client is None:
        store = embedded_shared_state()
        with store.atomic():
            _store_time(store, tkey, max(_stored_time(store, tkey), now) + seconds, now=now)
        return
    client.script_soon(_ADD_TOKENS, keys=(tkey,), args=(now, seconds), lazy=True)


def _admit_shared(rkey: str, tkey: str, rpm: int, tpm: int, tokens: int, now: float) -> int:
    """The _ADMIT script on the embedded default's shared file: its reply, the wait in ms."""
    store = embedded_shared_state()
    with store.atomic():
        wait, request_tat, token_tat = _verdict(
            now=now,
            request_tat=_stored_time(store, rkey) if rpm else 0.0,
            token_tat=_stored_time(store, tkey) if tpm else 0.0,
            rpm=rpm,
            tpm=tpm,
            tokens=tokens,
        )
        if wait:
            return math.ceil(wait * 1000)
        if request_tat is not None:
            _store_time(store, rkey, request_tat, now=now)
        if token_tat is not None and token_tat > now:
            _store_time(store, tkey, token_tat, now=now)
    return 0


def _stored_time(store: SharedState, key: str) -> float:
    return float(store.get(key) or 0)


def _store_time(store: SharedState, key: str, full_at: float, *, now: float) -> None:
    """A bucket's full-again time, kept a second past it (as the scripts' PX)."""
    store.set(key, f"{full_at:.6f}".encode(), ttl=full_at - now + 1)
