"""The process's Redis clients (one sync, one async pool and one pipelined hot-path connection
per event loop), or None on the embedded default where REDIS_URL is not set and
in-process/database fallbacks are used instead."""

import asyncio
import functools
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

from config.redis_pipelined import PipelinedRedis


@functools.cache
def get_redis() -> redis.Redis | None:
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = (
    weakref.WeakKeyDictionary()
)


def get_async_redis() -> aioredis.Redis | None:
    """One async client per event loop (a client cannot be shared across loops)."""
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        _async_clients[loop] = client
    return client


_pipelined_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PipelinedRedis]" = (
    weakref.WeakKeyDictionary()
)


def get_pipelined_redis() -> PipelinedRedis | None:
    """The request path's client (budgets, rate limits, breakers, cache, idempotency): one
    auto-pipelined connection per event loop, about 45 us cheaper per command than redis-py's
    pool (config/redis_pipelined.py). A changed REDIS_URL (tests) gets a new connection."""
    url = settings.REDIS_URL
    if not url:
        return None
    loop = asyncio.get_running_loop()
    client = _pipelined_clients.get(loop)
    if client is None or client.url != url:
        if client is not None:
            client.close()
        client = PipelinedRedis(url, timeout=2, connect_timeout=2)
        _pipelined_clients[loop] = client
    return client


def close_pipelined_redis() -> None:
    """Close this loop's pipelined connection (ASGI lifespan shutdown)."""
    client = _pipelined_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        client.close()
