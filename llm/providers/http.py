"""Upstream HTTP: the one pooled client per process and event loop, and the calls made with it.

httpx clients hold connections bound to the loop that opened them, so there is one client per
running loop (uvicorn runs one loop per worker process; tests may run several loops). The
client's API is httpx's; TOLLGATE_HTTP_TRANSPORT picks what sends the bytes: `aiohttp` (the
default: about half the CPU per request, see bench/README.md) or `httpx` (httpx's own).

The calls: `upstream_call` sends a plain request and hands the answer to the adapter,
`upstream_stream_open` opens a streamed one; on the `aiohttp` setting a trusted request of
either goes through Tollgate's own HTTP/1.1 client instead (http11_client.py, a third of
aiohttp's CPU per call), with no httpx objects. A transport failure (timeout, connection lost)
of any path becomes a ProviderError through `transport_error`, so the gateway sees one error
type.

A request to a tenant's own base URL (`UpstreamRequest.guarded`) goes through the SSRF guard
(upstream_guard.py: resolve once, check every address, connect to a checked one) unless
TOLLGATE_ALLOW_PRIVATE_UPSTREAMS is on. No redirect is ever followed: a 3xx is an upstream
failure (a redirect could point the key, or the gateway, at an internal address).
"""

import asyncio
import weakref

import httpx
import orjson
from django.conf import settings

from llm.providers.aiohttp_transport import AiohttpTransport
from llm.providers.contract import ChatResult, ProviderAdapter, ProviderError, UpstreamRequest
from llm.providers.http11_client import Http11Client, PlainAnswer, StreamedAnswer
from llm.providers.upstream_guard import (
    GUARD_EXTENSION,
    GuardedHTTPTransport,
    GuardedResolver,
    SsrfGuardTransport,
    UpstreamAddressRefused,
)

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)
# The direct path of trusted calls, per loop (on the `aiohttp` setting).
_direct_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Http11Client]" = (
    weakref.WeakKeyDictionary()
)

_MAX_CONNECTIONS = 1000
_KEEPALIVE_SECONDS = 30.0

# What `transport_error` classifies: a deadline reached (asyncio.timeout) or an httpx failure.
TRANSPORT_ERRORS = (TimeoutError, httpx.HTTPError)


_LIMITS = httpx.Limits(
    max_connections=_MAX_CONNECTIONS,
    max_keepalive_connections=200,
    keepalive_expiry=_KEEPALIVE_SECONDS,
)


def _transports() -> tuple[httpx.AsyncBaseTransport, Http11Client | None]:
    """The trusted and the guarded transport of the configured kind, behind the guard's switch;
    and, on the `aiohttp` setting, the direct path of trusted calls."""
    if settings.TOLLGATE_HTTP_TRANSPORT == "aiohttp":
        trusted: httpx.AsyncBaseTransport = AiohttpTransport(
            max_connections=_MAX_CONNECTIONS, keepalive_expiry=_KEEPALIVE_SECONDS
        )
        guarded: httpx.AsyncBaseTransport = AiohttpTransport(
            max_connections=_MAX_CONNECTIONS,
            keepalive_expiry=_KEEPALIVE_SECONDS,
            resolver=GuardedResolver,
        )
        direct = Http11Client(max_connections=_MAX_CONNECTIONS, keepalive_expiry=_KEEPALIVE_SECONDS)
        return SsrfGuardTransport(trusted=trusted, guarded=guarded), direct
    trusted = httpx.AsyncHTTPTransport(limits=_LIMITS, trust_env=False)
    guarded = GuardedHTTPTransport(limits=_LIMITS)
    return SsrfGuardTransport(trusted=trusted, guarded=guarded), None


def get_http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        transport, direct = _transports()
        if direct is None:
            _direct_clients.pop(loop, None)
        else:
            _direct_clients[loop] = direct
        client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(60.0, connect=5.0),
            follow_redirects=False,  # a redirect must not carry the key to another host
            trust_env=False,  # no proxy or .netrc from the environment
            http2=False,
        )
        _clients[loop] = client
    return client


async def close_http_client() -> None:
    loop = asyncio.get_running_loop()
    direct = _direct_clients.pop(loop, None)
    if direct is not None:
        await direct.aclose()
    client = _clients.pop(loop, None)
    if client is not None:
        await client.aclose()


async def upstream_call(
    *, adapter: ProviderAdapter, request: UpstreamRequest, model_id: str, timeout: float
) -> ChatResult:
    """Send one plain request: the adapter's parsed answer, or its ProviderError for a non-2xx
    status (a body that is not a JSON object is `malformed`, worth another attempt)."""
    answer = await _plain_exchange(request, timeout=timeout)
    if answer.status >= 300:
        raise _answer_error(adapter, answer)
    try:
        payload = orjson.loads(answer.body)
        if not isinstance(payload, dict):
            raise TypeError
        return adapter.parse_response(payload=payload, model=model_id)
    except ProviderError:
        raise
    except Exception:
        raise ProviderError(
            "malformed response body",
            status=answer.status,
            kind="malformed",
            retryable=True,
        ) from None


async def _plain_exchange(request: UpstreamRequest, *, timeout: float) -> PlainAnswer:
    """The whole answer to a plain request: through the direct client when the request needs no
    guard and the setting is `aiohttp`, else through the httpx client."""
    client = get_http_client()
    extensions = _extensions(request)
    direct = _direct_sender(extensions)
    body = orjson.dumps(request.json)
    if direct is not None:
        return await direct.send_plain(
            method=request.method,
            url=request.url,
            headers=request.headers,
            body=body,
            timeout=timeout,
        )
    response = await client.request(
        request.method,
        request.url,
        headers=request.headers,
        content=body,
        timeout=timeout,
        extensions=extensions,
    )
    return PlainAnswer(status=response.status_code, headers=response.headers, body=response.content)


async def upstream_stream_open(
    *, adapter: ProviderAdapter, request: UpstreamRequest, timeout: float
) -> httpx.Response | StreamedAnswer:
    """Open a streamed request: the response with its body unread (the caller reads it with
    `aiter_raw` and closes it), or the adapter's ProviderError for a non-2xx status (that
    response is closed here). Trusted requests on the `aiohttp` setting skip httpx's objects."""
    client = get_http_client()
    extensions = _extensions(request)
    direct = _direct_sender(extensions)
    body = orjson.dumps(request.json)
    if direct is not None:
        answer = await direct.send_stream(
            method=request.method,
            url=request.url,
            headers=request.headers,
            body=body,
            timeout=timeout,
        )
        if isinstance(answer, StreamedAnswer):
            return answer
        raise _answer_error(adapter, answer)
    http_request = client.build_request(
        request.method,
        request.url,
        headers=request.headers,
        content=body,
        timeout=timeout,
        extensions=extensions,
    )
    response = await client.send(http_request, stream=True)
    if response.status_code < 300:
        return response
    try:
        content = b"" if response.status_code < 400 else await response.aread()
    finally:
        await response.aclose()
    raise _answer_error(
        adapter, PlainAnswer(status=response.status_code, headers=response.headers, body=content)
    )


def _direct_sender(extensions: dict[str, bool]) -> Http11Client | None:
    """The loop's direct client for a request that needs no guard (call after get_http_client),
    else None: such a request goes through the httpx client."""
    return None if extensions else _direct_clients.get(asyncio.get_running_loop())


def _extensions(request: UpstreamRequest) -> dict[str, bool]:
    if request.guarded and not settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS:
        return {GUARD_EXTENSION: True}
    return {}


def _answer_error(adapter: ProviderAdapter, answer: PlainAnswer) -> ProviderError:
    """What a non-2xx answer raises: a redirect is never followed, any other status is the
    adapter's error."""
    if answer.status < 400:
        return _redirect_error(answer.status)
    return adapter.map_error(status=answer.status, body=answer.body, headers=answer.headers)


def _redirect_error(status: int) -> ProviderError:
    """A 3xx is never followed; worth another candidate, not the same one again."""
    return ProviderError(
        f"upstream answered HTTP {status}, a redirect (redirects are not followed)",
        status=status,
        kind="malformed",
        retryable=True,
    )


def transport_error(exc: BaseException, *, timeout: float) -> ProviderError:
    """One of TRANSPORT_ERRORS as the ProviderError the retry and fallback rules read; all are
    worth another attempt. `timeout` is the limit that applied, for the message."""
    if isinstance(exc, UpstreamAddressRefused):
        return ProviderError(f"upstream address refused: {exc}", kind="connection", retryable=True)
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return ProviderError(
            f"no complete answer within {timeout:.1f} s", kind="timeout", retryable=True
        )
    if isinstance(exc, httpx.ConnectError):
        return ProviderError("connection failed", kind="connection", retryable=True)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError("connection closed mid-response", kind="connection", retryable=True)
    return ProviderError(
        f"transport error ({type(exc).__name__})", kind="connection", retryable=True
    )
