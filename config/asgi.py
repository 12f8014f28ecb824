"""The ASGI entry point.

/v1/ (the gateway's hot path) goes straight to `llm.views.v1_asgi`; everything else (admin,
management API) goes through Django's full handler. The /v1 endpoints need no session, CSRF,
static files or database, and Django's handler costs several thread hops per request (sync
middleware hooks, request_started/finished receivers): measured here at p50 ~3 ms through the
bare endpoint against ~8 ms through the handler (bench/README.md). Both paths call the same
gateway service; the Django views in llm/views.py serve /v1 under WSGI and the test client.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from llm.views import v1_asgi  # noqa: E402  (needs the app registry loaded above)


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        return await v1_asgi(scope, receive, send)
    return await django_application(scope, receive, send)
