"""Per-request cost of Django's ASGI path itself, in-process (no sockets, no upstream).

Checks earlier measurements of Django's per-request cost against this project's settings: how much
a trivial async JSON view costs through (1) a bare ASGI callable (the driver's floor), (2) Django's
ASGIHandler with no middleware and no request_started/finished receivers, (3) the same with
Django's default receivers (database connection housekeeping: a thread hop per request), (4) the
project's full MIDDLEWARE list (each MiddlewareMixin middleware runs process_request/response
through sync_to_async, i.e. more thread hops), and (5, 6) variants (3) and (4) without Django's
per-request ThreadSensitiveContext (see SharedThreadASGIHandler). Also reports whether `sniffio` is
importable (finding 1).

Usage: .venv/bin/python bench/django_overhead.py [requests per variant, default 4000]
Prints per variant a `HOPS` line (thread hops and OS threads started per request: load-
independent) and `OVERHEAD ... us_per_request=...` lines at c=1 and c=16 (load-dependent).
"""

import asyncio
import base64
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Fresh secrets each run: production settings refuse weak or published ones (SECURITY.md).
os.environ.setdefault("SECRET_KEY", os.urandom(48).hex())
os.environ.setdefault("TOLLGATE_ENCRYPTION_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core import signals  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.db import close_old_connections, reset_queries  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

BODY = b'{"model":"auto","messages":[{"role":"user","content":"hi"}]}'
PAYLOAD = {"object": "chat.completion", "choices": [{"message": {"content": "hello"}}]}


@csrf_exempt  # as the gateway's /v1 views are (API-key auth, no cookies)
async def bench_view(request):
    return JsonResponse(PAYLOAD)


urlpatterns = [path("bench", bench_view)]


async def bare_app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"object":"chat.completion"}'})


def make_scope() -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/bench",
        "raw_path": b"/bench",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer tg_x"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def one_request(app) -> None:
    sent_body = False
    done = asyncio.Event()

    async def receive():
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await done.wait()  # the client never disconnects; Django cancels this listener
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await app(make_scope(), receive, send)


COUNTS = {"hops": 0, "back": 0, "threads": 0}


def install_counters() -> None:
    """Count thread hops (SyncToAsync calls) and OS threads started: unlike timings on a shared
    2-core machine, these per-request counts do not depend on the load."""
    import threading

    from asgiref.sync import AsyncToSync, SyncToAsync

    original_call, original_start = SyncToAsync.__call__, threading.Thread.start
    original_back = AsyncToSync.__call__

    async def counted_call(self, *args, **kwargs):
        COUNTS["hops"] += 1
        return await original_call(self, *args, **kwargs)

    def counted_back(self, *args, **kwargs):
        COUNTS["back"] += 1
        return original_back(self, *args, **kwargs)

    def counted_start(self):
        COUNTS["threads"] += 1
        return original_start(self)

    SyncToAsync.__call__ = counted_call
    AsyncToSync.__call__ = counted_back
    threading.Thread.start = counted_start


async def count_per_request(app, n: int = 200) -> tuple[float, float, float]:
    COUNTS.update(hops=0, back=0, threads=0)
    for _ in range(n):
        await one_request(app)
    return COUNTS["hops"] / n, COUNTS["back"] / n, COUNTS["threads"] / n


async def measure(app, n: int, concurrency: int) -> float:
    for _ in range(200):  # warm-up
        await one_request(app)
    start = time.perf_counter()
    if concurrency == 1:
        for _ in range(n):
            await one_request(app)
    else:
        for _ in range(n // concurrency):
            await asyncio.gather(*(one_request(app) for _ in range(concurrency)))
    return (time.perf_counter() - start) / n * 1e6


class SharedThreadASGIHandler(ASGIHandler):
    """Django's handler without the per-request ThreadSensitiveContext: Django 5.2 enters a new
    context per request, so asgiref (3.13) starts a fresh executor thread for the request's
    first thread-sensitive call (response.close() always is one) and a second thread to join it
    on exit. Here thread-sensitive calls go to asgiref's one process-wide executor thread."""

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)


def django_app(*, middleware: list[str], receivers: bool, handler=ASGIHandler):
    settings.ROOT_URLCONF = sys.modules[__name__]
    settings.MIDDLEWARE = middleware
    for signal, receiver in (
        (signals.request_started, reset_queries),
        (signals.request_started, close_old_connections),
        (signals.request_finished, close_old_connections),
    ):
        signal.disconnect(receiver)
        if receivers:
            signal.connect(receiver)
    return handler()


async def main(n: int) -> None:
    project_middleware = list(settings.MIDDLEWARE)
    try:
        import sniffio

        print(f"SNIFFIO installed=yes version={sniffio.__version__}")
    except ImportError:
        print("SNIFFIO installed=no (httpx pays a failing import per request)")
    variants = [
        ("bare_asgi", lambda: bare_app),
        ("django_no_mw_no_receivers", lambda: django_app(middleware=[], receivers=False)),
        ("django_no_mw_default_receivers", lambda: django_app(middleware=[], receivers=True)),
        (
            f"django_project_mw({len(project_middleware)})_default_receivers",
            lambda: django_app(middleware=project_middleware, receivers=True),
        ),
        (
            f"django_project_mw_without_whitenoise({len(project_middleware) - 1})",
            lambda: django_app(
                middleware=[m for m in project_middleware if "whitenoise" not in m],
                receivers=True,
            ),
        ),
        (
            "django_no_mw_default_receivers_shared_thread",
            lambda: django_app(middleware=[], receivers=True, handler=SharedThreadASGIHandler),
        ),
        (
            f"django_project_mw({len(project_middleware)})_default_receivers_shared_thread",
            lambda: django_app(
                middleware=project_middleware, receivers=True, handler=SharedThreadASGIHandler
            ),
        ),
    ]
    install_counters()
    for name, factory in variants:
        hops, back, threads = await count_per_request(factory())
        print(
            f"HOPS variant={name} sync_to_async_per_request={hops:.1f} "
            f"async_to_sync_per_request={back:.1f} threads_started_per_request={threads:.1f}"
        )
    for concurrency in (1, 16):
        for name, factory in variants:
            app = factory()
            us = await measure(app, n, concurrency)
            print(f"OVERHEAD variant={name} c={concurrency} us_per_request={us:.1f}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4000))
