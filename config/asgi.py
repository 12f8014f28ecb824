"""The ASGI entry point.

/v1/ (the gateway's hot path) goes straight to `gateway.views.v1_asgi`, and /healthz, /readyz
and /metrics to `gateway.ops.ops_asgi`; everything else (admin, management API) goes through
Django's full handler. The /v1 endpoints need no session, CSRF, static files or database, and
Django's handler costs several thread hops per request (sync middleware hooks,
request_started/finished receivers): measured here at p50 ~3 ms through the bare endpoint
against ~8 ms through the handler (bench/README.md). Both paths call the same
gateway service; the Django views in gateway/views.py serve /v1 under WSGI and the test client.
"""

import gc
import os

import orjson
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from asgiref.sync import sync_to_async  # noqa: E402

from billing.services.usage import usage_records_secure  # noqa: E402
from core.errors import InvalidRequest  # noqa: E402
from core.hosts import asgi_host, host_allowed  # noqa: E402
from core.redis import close_pipelined_redis  # noqa: E402
from gateway.ops import OPS_PATHS, ops_asgi  # noqa: E402
from gateway.services.background import background_wait  # noqa: E402
from gateway.views import v1_asgi  # noqa: E402  (needs the app registry loaded above)
from llm.providers.http import close_http_client  # noqa: E402

# The ~120,000 objects of start-up (Django, apps, URLconf) live as long as the process; a full
# collection that walks them takes ~60 ms here and lands on some unlucky request (it set the
# c=1 max latency). Frozen, the collector skips them (bench/README.md, "Where the time goes").
gc.collect()
gc.freeze()


async def lifespan(scope, receive, send) -> None:
    """On shutdown, while the worker's loop still runs: let settlements in flight finish, close
    the pooled upstream client and the pipelined Redis connection, and write the usage events
    still buffered, or on the stream and not confirmed ingested, to the database (nothing
    metered is lost on a graceful stop, whatever Redis loses after it)."""

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await background_wait(timeout=10)
            await close_http_client()
            close_pipelined_redis()
            await sync_to_async(usage_records_secure, thread_sensitive=False)()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _bad_host(send) -> None:
    body = orjson.dumps(InvalidRequest("Invalid Host header.").as_body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        if not host_allowed(asgi_host(scope)):  # as Django does on every other path
            return await _bad_host(send)
        return await v1_asgi(scope, receive, send)
    if scope["type"] == "http" and scope["path"] in OPS_PATHS:  # probes and scrapes, no Django
        return await ops_asgi(scope, receive, send)
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    return await django_application(scope, receive, send)
