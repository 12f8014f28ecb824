"""Gateway processes of their own (uvicorn subprocesses) for the tests that need more than one:
started on free ports, waited for, and stopped however the test ends."""

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
from django.conf import settings

from core.uvicorn_protocol import HTTP_PROTOCOL
from tests.integration.conftest import PLATFORM_KEYS, _free_port

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """This test run's database as a DATABASE_URL the subprocesses can open."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db.get('USER') or 'postgres'}{password}@{host}:{port}/{db['NAME']}"


def gateway_env(*, openai_base_url: str) -> dict[str, str]:
    """The subprocesses' environment: this one's, the platform keys, the test settings on
    this run's database, and OpenAI at the mock upstream."""
    return {
        **os.environ,
        **PLATFORM_KEYS,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": database_url(),
        "TOLLGATE_OPENAI_BASE_URL": openai_base_url,
    }


def _wait_until_serving(urls: list[str]) -> None:
    deadline = time.monotonic() + 30
    for url in urls:
        while True:
            try:
                httpx.get(f"{url}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("a gateway process did not start") from None
                time.sleep(0.1)


@contextlib.contextmanager
def gateway_processes(
    *, env: Mapping[str, str], log_dir: Path, count: int = 2, uvicorn_args: Sequence[str] = ()
) -> Iterator[list[str]]:
    """`count` gateways with `env`, each logging to `log_dir/gateway-<i>.log`; yields their
    URLs once all of them answer."""
    processes, urls = [], []
    try:
        for index in range(count):
            port = _free_port()
            log = open(log_dir / f"gateway-{index}.log", "w")  # noqa: SIM115
            command = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
            command += ["--host", "127.0.0.1", "--port", str(port), *uvicorn_args]
            command += ["--no-access-log", "--http", HTTP_PROTOCOL]
            processes.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
            urls.append(f"http://127.0.0.1:{port}")
        _wait_until_serving(urls)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
