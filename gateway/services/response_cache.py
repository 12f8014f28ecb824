"""Exact-match response cache, opt-in per routing config (`cache_ttl_seconds` > 0).

The key is the tenant plus a hash of the normalised request: the routing decision's candidate
chain and every body field that shapes the answer (fields that do not, such as `stream`,
`user` or `metadata`, are left out). Redis when configured, else a small in-process LRU.
Plain responses fill the cache; a streaming request that hits it gets the answer replayed as
SSE chunks (streams themselves are not stored).
"""

import hashlib
import time
from collections import OrderedDict

import orjson

from core.redis import get_pipelined_redis

_IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "metadata", "model", "store"})
_LOCAL_MAX = 2048
_local: "OrderedDict[str, tuple[bytes, float]]" = OrderedDict()


def cache_key(*, tenant_id: int, candidates: list[str], body: dict) -> str:
    normal = {k: v for k, v in body.items() if k not in _IGNORED_FIELDS}
    digest = hashlib.sha256(
        orjson.dumps({"m": candidates, "b": normal}, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    return f"tollgate:cache:{tenant_id}:{digest}"


async def cache_get(*, key: str) -> dict | None:
    client = get_pipelined_redis()
    if client is None:
        hit = _local.get(key)
        if hit is None:
            return None
        if hit[1] < time.monotonic():
            _local.pop(key, None)
            return None
        _local.move_to_end(key)
        return orjson.loads(hit[0])
    try:
        raw = await client.execute("GET", key)
    except Exception:
        return None
    return orjson.loads(raw) if raw else None


async def cache_set(*, key: str, entry: dict, ttl_seconds: int) -> None:
    raw = orjson.dumps(entry)
    client = get_pipelined_redis()
    if client is None:
        _local[key] = (raw, time.monotonic() + ttl_seconds)
        _local.move_to_end(key)
        while len(_local) > _LOCAL_MAX:
            _local.popitem(last=False)
        return
    try:
        await client.execute("SET", key, raw, "EX", ttl_seconds)
    except Exception:
        return


def cache_clear_local() -> None:
    _local.clear()
