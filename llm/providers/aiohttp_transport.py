"""An httpx transport that sends requests with aiohttp.

The gateway keeps httpx's API (requests, responses, timeouts, exceptions); only the wire work
moves to aiohttp's C-accelerated HTTP/1.1 client, which costs about half the CPU per request of
httpx's default transport on this machine class (bench/README.md). aiohttp's errors are mapped
to httpx's exception classes, so callers cannot tell the transports apart. With a resolver
(upstream_guard.GuardedResolver) aiohttp connects only to the addresses that resolver returned.
"""

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver

from llm.providers.upstream_guard import AddressRefused, UpstreamAddressRefused

# aiohttp computes these from the body and URL; passing httpx's copies would duplicate them.
_SKIP_HEADERS = {b"host", b"content-length", b"transfer-encoding", b"connection"}


def _map_error(exc: BaseException, request: httpx.Request | None) -> Exception:
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, AddressRefused):
        return UpstreamAddressRefused(str(exc.os_error), request=request)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout("connect timed out", request=request)
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientProxyConnectionError):
        return httpx.ConnectError(str(exc) or "connection failed", request=request)
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout("read timed out", request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(str(exc) or "connection closed", request=request)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(str(exc) or "read failed", request=request)
    return httpx.TransportError(f"{type(exc).__name__}: {exc}", request=request)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request | None):
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _map_error(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (connection pool) per transport; create it inside the event loop.
    `resolver` makes the connector's resolver (default: aiohttp's threaded one); `ssl_context`
    replaces the default certificate verification (tests with their own CA)."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        keepalive_expiry: float = 30.0,
        resolver: Callable[[], AbstractResolver] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._resolver = resolver
        self._ssl: ssl.SSLContext | bool = ssl_context or True
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=self._keepalive_expiry,
                ttl_dns_cache=300,
                resolver=self._resolver() if self._resolver else None,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                trust_env=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _SKIP_HEADERS
        ]
        response = await self._request(
            method=request.method,
            url=str(request.url),
            headers=headers,
            body=await request.aread(),
            connect_timeout=timeouts.get("connect"),
            read_timeout=timeouts.get("read"),
            httpx_request=request,
        )
        return httpx.Response(
            status_code=response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_ResponseStream(response, request),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _request(
        self,
        *,
        method: str,
        url: str,
        headers: Mapping[str, str] | list[tuple[str, str]],
        body: bytes,
        connect_timeout: float | None,
        read_timeout: float | None,
        httpx_request: httpx.Request | None = None,
    ) -> aiohttp.ClientResponse:
        """The one aiohttp request of every path: no redirect followed, no compression, its
        failures as httpx's exceptions."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        try:
            return await self._get_session().request(
                method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _map_error(exc, httpx_request) from exc

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
            await asyncio.sleep(0)  # let the connector close its sockets
