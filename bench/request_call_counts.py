"""Python's work per plain chat request, counted: the request goes in process through
`config.asgi.application` (no client socket) to a raw local upstream, under cProfile.

Function calls and Django settings reads per request are counts, not times: the same code gives
the same figures on a busy machine, so a change of a few percent shows where one `make bench`
cannot resolve it. The profile's top functions follow (by own time, or `--sort cumulative`).

Usage (after a `make bench`, whose database `tg_bench` and Redis DB 10 it reuses; it adds an API
key with rate limits to the benchmark's tenant):
    .venv/bin/python bench/request_call_counts.py [--requests 3200] [--concurrency 16]
"""

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update(
    DJANGO_SETTINGS_MODULE="config.settings",
    DATABASE_URL=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tg_bench"
    ),
    REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10"),
    DEBUG="false",
    ALLOWED_HOSTS="127.0.0.1",
    OPENAI_API_KEY="sk-bench",
    TOLLGATE_ALLOW_PRIVATE_UPSTREAMS="true",
    SECRET_KEY=os.urandom(48).hex(),
    TOLLGATE_ENCRYPTION_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
    LOG_LEVEL="WARNING",
)

import django
import uvloop

ANSWER = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}'
)
REQUEST = b'{"model":"auto","messages":[{"role":"user","content":"Say hello in one sentence."}]}'


class _Upstream(asyncio.Protocol):
    """Answers every request read (head and Content-Length body) with ANSWER, keep-alive."""

    def connection_made(self, transport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self.buffer[:end].split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            )
            self.transport.write(head % len(ANSWER) + ANSWER)


def _bench_key() -> str:
    from tenants.models import Tenant, TenantApiKey
    from tenants.services import api_key_create

    key, secret = api_key_create(tenant=Tenant.objects.get(slug="bench"), scopes=["inference"])
    TenantApiKey.objects.filter(pk=key.pk).update(rpm_limit=100_000_000, tpm_limit=2_000_000_000)
    return secret


async def _run(*, secret: str, requests: int, concurrency: int, sort: str, cpu_only: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Upstream, "127.0.0.1", 0)
    os.environ["TOLLGATE_OPENAI_BASE_URL"] = (
        f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    )
    from config.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {secret}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(REQUEST)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: list[int] = []

    async def one() -> None:
        messages = [{"type": "http.request", "body": REQUEST, "more_body": False}]

        async def receive():
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client stays: never a disconnect

        async def send(message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await application(scope, receive, send)

    for _ in range(200):  # warm: snapshots loaded, counters seeded, connections open
        await one()
    rounds = max(requests // concurrency, 1)
    served = rounds * concurrency
    if cpu_only:
        passes: list[float] = []
        for _ in range(5):  # five timed passes, unprofiled: the fastest is the least disturbed
            started = time.process_time()
            for _ in range(rounds):
                await asyncio.gather(*(one() for _ in range(concurrency)))
            passes.append((time.process_time() - started) / served * 1e6)
        print(f"REQUEST_CPU_US concurrency={concurrency} " + " ".join(f"{p:.0f}" for p in passes))
        server.close()
        return
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(rounds):
        await asyncio.gather(*(one() for _ in range(concurrency)))
    profile.disable()
    if set(statuses) != {200}:
        raise SystemExit(f"not every request answered 200: {sorted(set(statuses))}")
    stats = pstats.Stats(profile)
    settings_reads = sum(
        calls
        for (path, _line, name), (_cc, calls, *_rest) in stats.stats.items()
        if path.endswith("django/utils/functional.py") and name == "__getattribute__"
    )
    print(
        f"REQUEST_CALLS requests={served} concurrency={concurrency} "
        f"python_calls_per_request={stats.total_calls / served:.0f} "
        f"settings_reads_per_request={settings_reads / served:.1f}"
    )
    stats.sort_stats(sort).print_stats(30)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument(
        "--cpu", action="store_true", help="no profile: process CPU µs per request, five passes"
    )
    options = parser.parse_args()
    django.setup()
    secret = _bench_key()
    uvloop.run(
        _run(
            secret=secret,
            requests=options.requests,
            concurrency=options.concurrency,
            sort=options.sort,
            cpu_only=options.cpu,
        )
    )


if __name__ == "__main__":
    main()
