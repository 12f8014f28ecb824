"""Django's ALLOWED_HOSTS check for ASGI paths that bypass Django's handler (the bare /v1 app).

Django validates the Host header in `HttpRequest.get_host()`; the bare endpoint never builds an
HttpRequest, so without this check /v1 would answer any Host (DNS rebinding, poisoned links).
"""

import functools

from django.conf import settings
from django.http.request import split_domain_port, validate_host


def asgi_host(scope: dict) -> str:
    """The Host the client sent, as Django reads it (X-Forwarded-Host only when trusted)."""
    headers = dict(scope.get("headers") or ())
    if settings.USE_X_FORWARDED_HOST and b"x-forwarded-host" in headers:
        return headers[b"x-forwarded-host"].decode("latin1")
    if b"host" in headers:
        return headers[b"host"].decode("latin1")
    server = scope.get("server") or ("", None)
    return f"{server[0]}:{server[1]}" if server[1] else str(server[0])


def host_allowed(host: str) -> bool:
    allowed = tuple(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = (".localhost", "127.0.0.1", "[::1]")  # Django's own default under DEBUG
    return _host_allowed(host, allowed)


@functools.lru_cache(maxsize=1024)
def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)
