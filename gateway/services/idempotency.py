"""Idempotency-Key: a retry with the same key (per tenant, 24 h) gets the first result back.

The first request claims the key (SET NX, short TTL while in flight) with a hash of its body.
A duplicate with another body is a 409 `idempotency_conflict`; a duplicate while the first is
still in flight waits for it (up to a bound, then 409). Only successful results are stored (a
failed request releases its claim so the client can retry it); the stored result replays body
and headers without a second upstream call or a second charge. Claims live in Redis, or on the
embedded default in the file every process shares (core/shared_state.py).
"""

import asyncio
import hashlib
import time
from dataclasses import dataclass

import orjson

from core.errors import Conflict, InvalidRequest
from core.redis import get_pipelined_redis
from core.shared_state import embedded_shared_state

RESULT_TTL_SECONDS = 24 * 3600
_POLL_SECONDS = 0.05
_MAX_KEY_LENGTH = 255


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


@dataclass
class IdempotencyClaim:
    key: str
    body_hash: str


def _hash_body(body: dict) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def _get(key: str) -> dict | None:
    client = get_pipelined_redis()
    raw = embedded_shared_state().get(key) if client is None else await client.execute("GET", key)
    return orjson.loads(raw) if raw else None


async def _set(key: str, value: dict, ttl: float, *, nx: bool) -> bool:
    client = get_pipelined_redis()
    if client is None:
        return embedded_shared_state().set(key, orjson.dumps(value), ttl=ttl, nx=nx)
    command = ["SET", key, orjson.dumps(value), "EX", max(1, int(ttl))]
    if nx:
        command.append("NX")
    return bool(await client.execute(*command))


async def idempotency_begin(
    *, tenant_id: int, idempotency_key: str, body: dict, wait_seconds: float
) -> tuple[IdempotencyClaim | None, dict | None]:
    """(claim, None) for a new request, (None, stored result) for a replay; raise on conflict."""
    if not idempotency_key or len(idempotency_key) > _MAX_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {_MAX_KEY_LENGTH} characters.")
    key_digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    key = f"tollgate:idem:{tenant_id}:{key_digest}"
    body_hash = _hash_body(body)
    pending = {"state": "pending", "hash": body_hash}
    give_up = time.monotonic() + wait_seconds
    while True:
        if await _set(key, pending, wait_seconds + 30, nx=True):
            return IdempotencyClaim(key=key, body_hash=body_hash), None
        stored = await _get(key)
        if stored is None:
            continue  # the first request failed and released the key: claim it now
        if stored.get("hash") != body_hash:
            raise IdempotencyConflict(
                "This Idempotency-Key was already used with a different request body."
            )
        if stored.get("state") == "done":
            return None, stored
        if time.monotonic() >= give_up:
            raise IdempotencyConflict("A request with this Idempotency-Key is still in progress.")
        await asyncio.sleep(_POLL_SECONDS)


async def idempotency_finish(
    *, claim: IdempotencyClaim, status: int, headers: dict[str, str], body: bytes, content_type: str
) -> None:
    result = {
        "state": "done",
        "hash": claim.body_hash,
        "status": status,
        "headers": headers,
        "content_type": content_type,
        "body": body.decode(),
    }
    try:
        await _set(claim.key, result, RESULT_TTL_SECONDS, nx=False)
    except Exception:
        return


async def idempotency_abort(*, claim: IdempotencyClaim) -> None:
    client = get_pipelined_redis()
    try:
        if client is None:
            embedded_shared_state().delete(claim.key)
        else:
            await client.execute("DEL", claim.key)
    except Exception:
        return
