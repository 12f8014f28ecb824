"""The operations endpoints as a bare ASGI app (config/asgi.py routes them here, like /v1: no
Django middleware, no session, no thread hop for /healthz):

- GET /healthz: 200 {"status": "ok"} while the process runs; no I/O.
- GET /readyz: 200 or 503 with each check (gateway/services/readiness.py).
- GET /metrics: Prometheus text (core/metrics.py) for `Authorization: Bearer
  $TOLLGATE_METRICS_TOKEN`, compared in constant time. Unset token, no token or a wrong one:
  the same 404 as an unknown path, so nothing tells a scanner whether metrics are on.

No Host check here (the /v1 and Django paths have one): these answers build no URL, and probes
and scrapers address a pod or container by IP.
"""

from __future__ import annotations

import hmac

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings

from core.errors import ApplicationError, InvalidRequest, NotFound
from core.metrics import CONTENT_TYPE, metrics_render
from gateway.services.readiness import readiness
from gateway.services.scrape_gauges import ScrapeGauges

OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_JSON = b"application/json"


async def _send(send, status: int, body: bytes, content_type: bytes = _JSON) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send, error: ApplicationError) -> None:
    await _send(send, error.status, orjson.dumps(error.as_body()))


def _bearer(scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def metrics_allowed(scope) -> bool:
    expected = settings.TOLLGATE_METRICS_TOKEN
    if not expected:
        return False
    return hmac.compare_digest(_bearer(scope).encode(), expected.encode())


def _render_metrics() -> bytes:
    return metrics_render(extra=[ScrapeGauges()])


async def ops_asgi(scope, receive, send) -> None:
    path = scope["path"]
    if scope["method"] not in ("GET", "HEAD"):
        error = InvalidRequest(f"Use GET for {path}.")
        error.status = 405
        return await _send_error(send, error)
    if path == "/healthz":
        return await _send(send, 200, b'{"status":"ok"}')
    if path == "/readyz":
        ready, body = await readiness()
        return await _send(send, 200 if ready else 503, orjson.dumps(body))
    if path == "/metrics" and metrics_allowed(scope):
        body = await sync_to_async(_render_metrics, thread_sensitive=False)()
        return await _send(send, 200, body, CONTENT_TYPE.encode())
    await _send_error(send, NotFound(f"No route GET {path}."))
