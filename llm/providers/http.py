"""The one pooled upstream HTTP client per process and event loop.

httpx clients hold connections bound to the loop that opened them, so there is one client per
running loop (uvicorn runs one loop per worker process; tests may run several loops). The
client's API is httpx's; TOLLGATE_HTTP_TRANSPORT picks what sends the bytes: `aiohttp` (the
default: about half the CPU per request, see bench/README.md) or `httpx` (httpx's own).
"""

import asyncio
import weakref

import httpx
from django.conf import settings

from llm.providers.aiohttp_transport import AiohttpTransport

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)

_MAX_CONNECTIONS = 1000
_KEEPALIVE_SECONDS = 30.0


def _transport() -> httpx.AsyncBaseTransport | None:
    if settings.TOLLGATE_HTTP_TRANSPORT == "aiohttp":
        return AiohttpTransport(
            max_connections=_MAX_CONNECTIONS, keepalive_expiry=_KEEPALIVE_SECONDS
        )
    return None  # httpx's default transport, with the limits below


def get_http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            transport=_transport(),
            limits=httpx.Limits(
                max_connections=_MAX_CONNECTIONS,
                max_keepalive_connections=200,
                keepalive_expiry=_KEEPALIVE_SECONDS,
            ),
            timeout=httpx.Timeout(60.0, connect=5.0),
            follow_redirects=False,  # a redirect must not carry the key to another host
            trust_env=False,  # no proxy or .netrc from the environment
            http2=False,
        )
        _clients[loop] = client
    return client


async def close_http_client() -> None:
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
