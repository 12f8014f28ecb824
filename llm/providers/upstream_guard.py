"""The connect-time SSRF guard for upstream requests to a tenant's own base URL.

A base URL was checked when it was saved (core/ssrf.py), but a host name can resolve elsewhere
by the time the request is sent (DNS rebinding). So a guarded request is resolved once, every
address is checked, and the socket connects to one of those addresses itself, never to the name:
there is no second lookup that could answer differently. The Host header and the TLS server
name (SNI, certificate check) stay the original host name.

`SsrfGuardTransport` sends a request marked with `GUARD_EXTENSION` through the guarded transport
and anything else (the operator's platform base URLs, trusted) through the normal one. The
guarded transports: aiohttp with `GuardedResolver` (aiohttp connects to the address its resolver
returned), or httpx's own with `GuardedNetworkBackend` (httpcore connects where the backend
says). A refusal is `UpstreamAddressRefused`, an httpx.ConnectError whose message says why.
"""

import asyncio
import socket
import ssl
from collections.abc import Iterable

import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from core.errors import InvalidRequest
from core.ssrf import address_refusal, resolve_host, target_check, url_target

GUARD_EXTENSION = "tollgate.ssrf_guard"
_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class UpstreamAddressRefused(httpx.ConnectError):
    """The upstream is not one a tenant URL may reach; nothing was sent."""


class AddressRefused(OSError):
    """Raised inside a resolver; an OSError so that aiohttp's connector passes it on."""


async def resolve_checked(host: str, port: int) -> list[tuple[int, str]]:
    """(family, address) for every address of `host`; AddressRefused when any is not public."""
    found = await asyncio.get_running_loop().run_in_executor(None, resolve_host, host, port)
    for _family, address in found:
        reason = address_refusal(address)
        if reason:
            raise AddressRefused(f"{host} resolves to {reason}")
    return found


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that returns only checked addresses (or refuses the host)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        found = await resolve_checked(host, port)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=address_family,
                proto=0,
                flags=_NUMERIC_FLAGS,
            )
            for address_family, address in found
            if family in (socket.AF_UNSPEC, address_family)
        ]

    async def close(self) -> None:
        pass


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves and checks the host, then connects to one of
    the checked addresses (TLS is started on that stream with the original host name)."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                found = await resolve_checked(host, port)
        except AddressRefused as exc:
            raise UpstreamAddressRefused(str(exc)) from None
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"name lookup of {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"name lookup of {host} failed: {exc}") from None
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for _family, address in found:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a tenant upstream is never a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedHTTPTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool on `GuardedNetworkBackend` (httpx takes
    no network backend, so the pool is replaced with one built the same way)."""

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None):
        ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=GuardedNetworkBackend(),
        )


class SsrfGuardTransport(httpx.AsyncBaseTransport):
    """Guarded requests (marked with GUARD_EXTENSION) through `guarded`, after the URL itself is
    checked (scheme, credentials, internal names, IP literals); the rest through `trusted`."""

    def __init__(
        self, *, trusted: httpx.AsyncBaseTransport, guarded: httpx.AsyncBaseTransport
    ) -> None:
        self._trusted = trusted
        self._guarded = guarded

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.extensions.get(GUARD_EXTENSION):
            return await self._trusted.handle_async_request(request)
        try:
            target_check(url_target(str(request.url)))
        except InvalidRequest as exc:
            raise UpstreamAddressRefused(exc.message, request=request) from None
        return await self._guarded.handle_async_request(request)

    async def aclose(self) -> None:
        await self._trusted.aclose()
        await self._guarded.aclose()
