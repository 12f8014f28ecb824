"""Experiment, not production code: the gateway's /v1 routes without Django's middleware stack.

Measured, while /v1 still went through Django's handler, what that handler cost the real views
(superseded since by the bare ASGI endpoint in config/asgi.py; see bench/README.md):
`/v1/...` goes to an ASGIHandler subclass with no middleware (the /v1 views are csrf_exempt,
authenticate by API key and use no session, user or messages) and without Django's per-request
ThreadSensitiveContext (which starts an executor thread per request and a second one to join it);
every other path goes to the unchanged Django application. run.sh serves it as the target
`tollgate_lean` with `uvicorn lean_asgi:application --app-dir bench`.
"""

import os

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()


class GatewayASGIHandler(ASGIHandler):
    """Django's ASGI handler with an empty middleware chain and a process-wide sync thread."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        get_response = self._get_response_async if is_async else self._get_response
        self._middleware_chain = convert_exception_to_response(get_response)

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)


gateway_application = GatewayASGIHandler()


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        await gateway_application(scope, receive, send)
    elif scope["type"] == "lifespan":
        from config.asgi import lifespan

        await lifespan(scope, receive, send)
    else:
        await django_application(scope, receive, send)
