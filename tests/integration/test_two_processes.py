"""Two gateway processes (separate uvicorn processes) against one Redis hold one rate limit and
one strict budget exactly: a limit is shared, never multiplied by the number of processes; a
revoked key stops on both within a second."""

import asyncio
import os
import time
from decimal import Decimal

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.integration.conftest import settle_events
from tests.integration.gateway_processes import gateway_env, gateway_processes
from tests.support.mock_upstreams import Ok

pytestmark = pytest.mark.slow

BODY = {
    "model": "openai/gpt-4o-mini",
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "Say hello"}],
}


@pytest.fixture
def two_gateways(gw, redis_client, tmp_path):
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI must run this test on PostgreSQL (DATABASE_URL)")
        pytest.skip("other processes cannot open the in-memory SQLite test database")
    env = gateway_env(openai_base_url=gw.upstreams["openai"].base_url)
    env["REDIS_URL"] = settings.REDIS_URL
    with gateway_processes(env=env, log_dir=tmp_path, uvicorn_args=["--lifespan", "on"]) as urls:
        yield urls


def _fire(urls: list[str], secret: str, count: int) -> list[httpx.Response]:
    async def run():
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {secret}"}, timeout=60
        ) as client:
            return await asyncio.gather(
                *(
                    client.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=BODY)
                    for i in range(count)
                )
            )

    return asyncio.run(run())


def test_two_processes_share_one_rate_limit_exactly(gw, two_gateways):
    from tenants.services import api_key_create

    _, secret = api_key_create(tenant=gw.tenant, scopes=["inference"], rpm_limit=12)
    responses = _fire(two_gateways, secret, 40)
    statuses = [r.status_code for r in responses]
    # Each process alone would admit 12: together they still admit exactly 12.
    assert statuses.count(200) == 12, statuses
    assert statuses.count(429) == 28
    assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status_code == 429)
    served_by = {str(r.url).rsplit("/v1", 1)[0] for r in responses if r.status_code == 200}
    assert served_by <= set(two_gateways)


LIMIT = Decimal("0.006")


@pytest.fixture
def strict_budget(gw):
    """Set up before the processes start, so neither has a stale snapshot to expire first."""
    from billing.models import Budget

    gw.set_config(fallback_models=[])  # the worst case is then this one model's
    Budget.objects.create(tenant=gw.tenant, period="daily", limit_usd=LIMIT, mode="strict")


def test_two_processes_share_one_strict_budget(gw, strict_budget, two_gateways):
    limit = LIMIT
    # Each answer costs about its worst case and arrives late, so all requests are in flight
    # together: with a counter per process each could spend the whole limit (2x in total).
    gw.upstreams["openai"].script(*[Ok(input_tokens=1, output_tokens=1000, delay=0.5)] * 40)
    responses = _fire(two_gateways, gw.secret, 40)
    ok = [r for r in responses if r.status_code == 200]
    assert {r.status_code for r in responses} == {200, 402}
    per_request = Decimal("0.0006")  # 1000 output tokens at $0.60 per 1M (+ 1 input token)
    assert len(ok) >= int(limit / per_request) // 2  # the budget was used, not refused early
    spent = sum(Decimal(r.headers["X-Tollgate-Cost-USD"]) for r in ok)
    assert spent <= limit
    events = settle_events(40)
    assert len(events) == 40
    assert sum(e.cost_usd for e in events) == spent


def test_a_revoked_key_stops_working_on_every_process(gw, two_gateways):
    """The revoking process bumps the snapshot version in Redis; every process checks it at
    most once a second (gateway/services/snapshots.py VERSION_CHECK_SECONDS) and drops its
    cached keys when it moved, well before the key snapshot's own TTL (KEY_TTL_SECONDS)."""
    from tenants.services import api_key_revoke

    def post(url: str) -> int:
        return httpx.post(
            f"{url}/v1/chat/completions",
            json=BODY,
            headers={"Authorization": f"Bearer {gw.secret}"},
            timeout=30,
        ).status_code

    for url in two_gateways:
        assert post(url) == 200  # both hold the key in their snapshot
    api_key_revoke(key=gw.key)
    time.sleep(1.2)
    for url in two_gateways:
        assert post(url) == 401
