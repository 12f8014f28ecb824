"""The one pooled upstream HTTP client per process and event loop.

httpx clients hold connections bound to the loop that opened them, so there is one client per
running loop (uvicorn runs one loop per worker process; tests may run several loops).
"""

import asyncio

import httpx

_clients: dict[int, httpx.AsyncClient] = {}

_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)


def get_http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            limits=_LIMITS,
            timeout=httpx.Timeout(60.0, connect=5.0),
            follow_redirects=False,  # a redirect must not carry the key to another host
            trust_env=False,  # no proxy or .netrc from the environment
            http2=False,
        )
        _clients[id(loop)] = client
    return client


async def close_http_client() -> None:
    loop = asyncio.get_running_loop()
    client = _clients.pop(id(loop), None)
    if client is not None:
        await client.aclose()
