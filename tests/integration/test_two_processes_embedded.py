"""Two gateway processes on the embedded default (no Redis) keep the promises one process keeps:
an idempotent retry that reaches the other process is not sent upstream again, a rate limit is
not multiplied by the number of processes, and a revoked key stops working on both.

The processes share state through the embedded default's file (core/shared_state.py); they run
on this test's database (the SQLite file of the run, or PostgreSQL under CI) with REDIS_URL
removed, so this test runs in both of CI's passes.
"""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.integration.conftest import PLATFORM_KEYS, _free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db.get('USER') or 'postgres'}{password}@{host}:{port}/{db['NAME']}"


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


@pytest.fixture
def embedded(settings):
    """This process on the embedded default too, so that its writes (a revocation) bump the
    snapshot version in the shared file the gateway processes read."""
    settings.REDIS_URL = ""


@pytest.fixture
def two_embedded_gateways(embedded, gw, tmp_path):
    env = {
        **os.environ,
        **PLATFORM_KEYS,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _database_url(),
        "TOLLGATE_OPENAI_BASE_URL": gw.upstreams["openai"].base_url,
    }
    env.pop("REDIS_URL", None)
    assert env["TOLLGATE_SHARED_STATE_FILE"]  # set by config.settings_test, inherited here
    processes, urls = [], []
    for index in range(2):
        port = _free_port()
        log = open(tmp_path / f"gateway-{index}.log", "w")  # noqa: SIM115
        command = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        processes.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
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


def _post(url: str, secret: str, **headers: str) -> httpx.Response:
    headers["Authorization"] = f"Bearer {secret}"
    return httpx.post(f"{url}/v1/chat/completions", json=BODY, headers=headers, timeout=30)


def test_an_idempotent_retry_on_the_other_process_is_not_sent_upstream(gw, two_embedded_gateways):
    first_url, second_url = two_embedded_gateways
    first = _post(first_url, gw.secret, **{"Idempotency-Key": "order-42"})
    retry = _post(second_url, gw.secret, **{"Idempotency-Key": "order-42"})
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["x-tollgate-request-id"] == first.headers["x-tollgate-request-id"]
    assert len(gw.upstreams["openai"].requests) == 1  # billed once, called once

    other_body = {**BODY, "messages": [{"role": "user", "content": "Something else"}]}
    conflict = httpx.post(
        f"{second_url}/v1/chat/completions",
        json=other_body,
        headers={"Authorization": f"Bearer {gw.secret}", "Idempotency-Key": "order-42"},
    )
    assert conflict.status_code == 409


def test_two_processes_share_one_rate_limit_exactly(gw, two_embedded_gateways):
    from tenants.services import api_key_create

    _, secret = api_key_create(tenant=gw.tenant, scopes=["inference"], rpm_limit=6)

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {secret}"}) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{two_embedded_gateways[i % 2]}/v1/chat/completions",
                        json=BODY,
                        timeout=30,
                    )
                    for i in range(20)
                )
            )

    statuses = [r.status_code for r in asyncio.run(fire())]
    # Each process alone would admit 6: together they still admit exactly 6.
    assert statuses.count(200) == 6, statuses
    assert statuses.count(429) == 14


def test_a_revoked_key_stops_working_on_every_process(gw, two_embedded_gateways):
    from tenants.services import api_key_revoke

    for url in two_embedded_gateways:
        assert _post(url, gw.secret).status_code == 200  # both have the key in their snapshot
    api_key_revoke(key=gw.key)
    time.sleep(1.2)  # each process checks the shared snapshot version at most once a second
    for url in two_embedded_gateways:
        assert _post(url, gw.secret).status_code == 401
