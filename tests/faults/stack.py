"""A Tollgate of its own for a fault test (and bench/soak.py): a private database seeded by
tests/faults/seed_rows.py, gateway processes (uvicorn) and Celery workers as subprocesses, the
mock upstreams of tests/support as the providers. Every process started here is stopped or
killed by the caller's `with` block, however the test ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from celery import Celery

from core.uvicorn_protocol import HTTP_PROTOCOL
from tests.support.private_services import free_port

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_KEYS = {
    "OPENAI_API_KEY": "sk-platform-openai-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-platform-0123456789abcdef",
    "GEMINI_API_KEY": "AIzaPlatformGemini0123456789abcdef",
}


def stack_env(
    *,
    database_url: str,
    redis_url: str | None,
    upstreams: Mapping[str, str],
    state_dir: Path,
    settings_module: str = "config.settings_test",
) -> dict[str, str]:
    """The subprocesses' environment: test settings on the private services, the platform keys,
    each provider at its mock upstream, a shared-state file of their own (embedded default)."""
    env = {
        **os.environ,
        **PLATFORM_KEYS,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url,
        "TOLLGATE_SHARED_STATE_FILE": str(state_dir / "shared-state.sqlite3"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    for provider, url in upstreams.items():
        env[f"TOLLGATE_{provider.upper()}_BASE_URL"] = url
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.pop("CI", None)  # the subprocesses are the system under test, not tests
    return env


def seed(env: Mapping[str, str], spec: dict | None = None) -> dict:
    """Rows for a gateway to serve (tests/faults/seed_rows.py): ids and key secrets."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.seed_rows", json.dumps(spec or {})],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        raise RuntimeError(f"seeding failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _log(log_dir: Path, name: str):
    return open(log_dir / f"{name}-{time.monotonic_ns()}.log", "w")


def stop_process(process: subprocess.Popen, *, timeout: float = 15) -> None:
    """SIGTERM (a graceful stop: uvicorn's lifespan and Celery's warm shutdown run), then kill."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def gateway(
    *, env: Mapping[str, str], log_dir: Path, workers: int = 1, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """One uvicorn (with `workers` worker processes) on a free port; yields its URL and process
    once it answers."""
    port = port or free_port()
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "on", "--no-access-log"]
    command += ["--http", HTTP_PROTOCOL]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=dict(env), stdout=_log(log_dir, "gateway"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway did not start (logs in {log_dir})") from None
                time.sleep(0.1)
        yield url, process
    finally:
        stop_process(process)


def start_worker(*, env: Mapping[str, str], log_dir: Path) -> subprocess.Popen:
    """A real `celery -A config worker` (solo pool, as `make run` runs it)."""
    command = [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "--pool=solo"]
    command += ["--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "info"]
    return subprocess.Popen(
        command, cwd=ROOT, env=dict(env), stdout=_log(log_dir, "worker"), stderr=subprocess.STDOUT
    )


def start_beat(*, env: Mapping[str, str], log_dir: Path) -> subprocess.Popen:
    """`celery -A config beat` (the schedules of config/schedules.py), its state in log_dir."""
    command = [str(ROOT / ".venv/bin/celery"), "-A", "config", "beat"]
    command += ["-s", str(log_dir / "celerybeat-schedule"), "-l", "info"]
    return subprocess.Popen(
        command, cwd=ROOT, env=dict(env), stdout=_log(log_dir, "beat"), stderr=subprocess.STDOUT
    )


def celery_client(broker_url: str) -> Celery:
    """A Celery app that only sends tasks, to the private broker the workers read."""
    return Celery("tollgate-fault-client", broker=broker_url)


BODY = {
    "model": "auto",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Say hello"}],
}


@dataclass
class Traffic:
    """`total` requests at `concurrency` through a gateway; a fault can wait for `progress`."""

    url: str
    secret: str
    total: int
    concurrency: int
    body: dict = field(default_factory=lambda: dict(BODY))
    responses: list[httpx.Response] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # transport errors, not HTTP statuses

    async def run(self) -> None:
        queue = iter(range(self.total))
        headers = {"Authorization": f"Bearer {self.secret}"}
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:

            async def one_lane() -> None:
                for _ in queue:
                    try:
                        response = await client.post(
                            f"{self.url}/v1/chat/completions", json=self.body
                        )
                        await response.aread()
                        self.responses.append(response)
                    except httpx.HTTPError as exc:
                        self.failures.append(repr(exc))

            await asyncio.gather(*(one_lane() for _ in range(self.concurrency)))

    @property
    def progress(self) -> int:
        return len(self.responses) + len(self.failures)

    async def reached(self, count: int) -> None:
        while self.progress < count:
            await asyncio.sleep(0.01)

    def request_ids(self) -> set[str]:
        return {r.headers["x-tollgate-request-id"] for r in self.responses}


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
