"""Exact-match response cache, opt-in per routing config (`cache_ttl_seconds` > 0).

The key is the tenant plus a hash of the normalised request: the routing decision's candidate
chain and every body field that shapes the answer (fields that do not, such as `stream`,
`user` or `metadata`, are left out). Redis when configured, else the file every process of the
embedded default shares (core/shared_state.py).
Plain responses fill the cache; a streaming request that hits it gets the answer replayed as
SSE chunks (streams themselves are not stored).
"""

import hashlib

import orjson

from core.redis import get_pipelined_redis
from core.shared_state import embedded_shared_state

_IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "metadata", "model", "store"})


def answer_shaping_fields(body: dict) -> dict:
    """The body without the fields that do not shape the answer (the similarity cache's
    parameters hash uses it too)."""
    return {k: v for k, v in body.items() if k not in _IGNORED_FIELDS}


def cache_key(*, tenant_id: int, candidates: list[str], body: dict) -> str:
    normal = answer_shaping_fields(body)
    digest = hashlib.sha256(
        orjson.dumps({"m": candidates, "b": normal}, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    return f"tollgate:cache:{tenant_id}:{digest}"


async def cache_get(*, key: str) -> dict | None:
    client = get_pipelined_redis()
    try:
        if client is None:
            raw = embedded_shared_state().get(key)
        else:
            raw = await client.execute("GET", key)
    except Exception:
        return None
    return orjson.loads(raw) if raw else None


async def cache_set(*, key: str, entry: dict, ttl_seconds: int) -> None:
    raw = orjson.dumps(entry)
    client = get_pipelined_redis()
    try:
        if client is None:
            embedded_shared_state().set(key, raw, ttl=ttl_seconds)
        else:
            await client.execute("SET", key, raw, "EX", ttl_seconds)
    except Exception:
        return
