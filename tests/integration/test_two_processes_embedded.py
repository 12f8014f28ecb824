"""Two gateway processes on the embedded default (no Redis) keep the promises one process keeps:
an idempotent retry that reaches the other process is not sent upstream again, a rate limit is
not multiplied by the number of processes, and a revoked key stops working on both within a
second (the snapshot version check), an expired one at its expiry.

The processes share state through the embedded default's file (core/shared_state.py); they run
on this test's database (the SQLite file of the run, or PostgreSQL under CI) with REDIS_URL
removed, so this test runs in both of CI's passes.
"""

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from tests.integration.gateway_processes import gateway_env, gateway_processes

pytestmark = pytest.mark.slow

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}


@pytest.fixture
def embedded(settings):
    """This process on the embedded default too, so that its writes (a revocation) bump the
    snapshot version in the shared file the gateway processes read."""
    settings.REDIS_URL = ""


@pytest.fixture
def two_embedded_gateways(embedded, gw, tmp_path):
    env = gateway_env(openai_base_url=gw.upstreams["openai"].base_url)
    env.pop("REDIS_URL", None)
    assert env["TOLLGATE_SHARED_STATE_FILE"]  # set by config.settings_test, inherited here
    with gateway_processes(env=env, log_dir=tmp_path) as urls:
        yield urls


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


def test_an_expired_key_stops_working_on_every_process_at_its_expiry(gw, two_embedded_gateways):
    """Expiry needs no invalidation: each process's key snapshot carries `expires_at` and
    checks it on every request, so a cached key stops at its expiry, not a TTL later."""
    from tenants.services import api_key_create

    expires = timezone.now() + timedelta(seconds=4)
    _key, secret = api_key_create(tenant=gw.tenant, scopes=["inference"], expires_at=expires)
    for url in two_embedded_gateways:
        assert _post(url, secret).status_code == 200  # both hold the key in their snapshot
    assert timezone.now() < expires, "the machine is too slow for this test's 4 s window"
    time.sleep((expires - timezone.now()).total_seconds() + 0.2)
    for url in two_embedded_gateways:
        assert _post(url, secret).status_code == 401
