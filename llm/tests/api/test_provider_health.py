"""providers/health/: each provider's platform key, and the caller's own BYOK credentials, over
the last five minutes: the window's edges, error rate and median latency from what every
process wrote, breaker states as stored, tenant scoping and the read scope."""

import asyncio
import time

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from core.breaker_state import byok_credential
from core.redis import get_redis
from core.upstream_health import (
    BUCKET_SECONDS,
    SAMPLE_PER_BUCKET,
    WINDOW_BUCKETS,
    upstream_health_flush,
    upstream_health_observe,
    upstream_health_reset_local,
    upstream_health_window,
)
from gateway.services.breaker import breaker_record
from tenants.services import credential_set
from tests.support.api import assert_error

HEALTH = "/api/v1/providers/health/"
BASE = 1_700_000_000  # a bucket boundary (a multiple of BUCKET_SECONDS)


@pytest.fixture(autouse=True)
def fresh_health_store():
    """Nothing observed or stored before: the tally, Redis (when set) or the shared file."""
    upstream_health_reset_local()
    client = get_redis()
    if client is not None:
        client.flushdb()
    yield
    upstream_health_reset_local()


def _observe(at: float, *, ok: bool = True, latency_ms: int = 100, provider: str = "openai"):
    upstream_health_observe(
        provider=provider, credential="platform", ok=ok, latency_ms=latency_ms, at=at
    )


def test_the_window_is_the_thirty_buckets_ending_with_the_current_one(db):
    now = BASE + 5.0  # 5 s into bucket n
    oldest_in = BASE - (WINDOW_BUCKETS - 1) * BUCKET_SECONDS  # bucket n-29, its first second
    _observe(now, latency_ms=10)
    _observe(oldest_in, latency_ms=30)
    _observe(oldest_in - 0.001, latency_ms=999, ok=False)  # bucket n-30: out
    _observe(now + BUCKET_SECONDS, latency_ms=999)  # the next bucket: not yet
    upstream_health_flush()

    [health] = upstream_health_window(upstreams=[("openai", "platform")], now=now).values()
    assert (health.calls, health.errors, health.p50_latency_ms) == (2, 0, 20)
    # 10 s later bucket n-29 has left the window; bucket n+1 is in.
    later = upstream_health_window(upstreams=[("openai", "platform")], now=now + BUCKET_SECONDS)
    assert later[("openai", "platform")].calls == 2
    assert later[("openai", "platform")].p50_latency_ms == (10 + 999) // 2


def test_error_rate_and_median_sum_what_several_flushes_wrote(db):
    for latency in (100, 300, 200):
        _observe(BASE + 1, latency_ms=latency)
    upstream_health_flush()  # as one process's thread writes a second's tally
    _observe(BASE + 2, ok=False)
    _observe(BASE + 3, ok=False)
    _observe(BASE + 4, ok=True, latency_ms=400, provider="anthropic")
    upstream_health_flush()
    window = upstream_health_window(
        upstreams=[("openai", "platform"), ("anthropic", "platform"), ("google", "platform")],
        now=BASE + 9,
    )
    openai = window[("openai", "platform")]
    assert (openai.calls, openai.errors, openai.error_rate) == (5, 2, 0.4)
    assert openai.p50_latency_ms == 200  # of the successful calls only
    assert window[("anthropic", "platform")].error_rate == 0.0
    google = window[("google", "platform")]
    assert (google.calls, google.error_rate, google.p50_latency_ms) == (0, None, None)


def test_the_latency_sample_is_bounded(db):
    for latency in range(3 * SAMPLE_PER_BUCKET):
        _observe(BASE + 1, latency_ms=latency)
        if latency % SAMPLE_PER_BUCKET == 0:
            upstream_health_flush()
    upstream_health_flush()
    [health] = upstream_health_window(upstreams=[("openai", "platform")], now=BASE + 1).values()
    assert health.calls == 3 * SAMPLE_PER_BUCKET
    assert health.p50_latency_ms is not None
    if settings.REDIS_URL:
        key = f"tollgate:uh:{BASE // BUCKET_SECONDS}:lat:openai|platform"
        assert get_redis().llen(key) == SAMPLE_PER_BUCKET


def _rows(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    return {row["provider"]: row for row in body["results"]}


def test_api_shows_every_process_figures_and_breaker_states(
    key_client, tenant, other_tenant, small_catalog, settings
):
    settings.TOLLGATE_BREAKER_THRESHOLD = 2
    own = credential_set(tenant=tenant, provider=small_catalog["openai"], api_key="sk-own-0001")
    theirs = credential_set(
        tenant=other_tenant, provider=small_catalog["openai"], api_key="sk-their-0002"
    )
    now = time.time()
    for ok, latency in ((True, 120), (False, 0), (True, 80), (False, 0)):
        _observe(now, ok=ok, latency_ms=latency)
    upstream_health_observe(
        provider="openai", credential=byok_credential(own.pk), ok=False, latency_ms=5, at=now
    )
    upstream_health_observe(
        provider="openai", credential=byok_credential(theirs.pk), ok=True, latency_ms=5, at=now
    )
    upstream_health_flush()
    for _ in range(2):  # the tenant's own key fails twice: its breaker opens, not the platform's
        asyncio.run(breaker_record(provider="openai", credential=byok_credential(own.pk), ok=False))

    rows = _rows(key_client("read").get(HEALTH))
    assert set(rows) == {"openai", "anthropic"}
    openai = rows["openai"]
    assert openai["window_seconds"] == 300
    assert (openai["breaker"], openai["calls"], openai["errors"]) == ("closed", 4, 2)
    assert (openai["error_rate"], openai["p50_latency_ms"]) == (0.5, 100)
    [credential] = openai["credentials"]  # only the caller's own
    assert credential == {
        "id": own.pk,
        "last4": own.last4,
        "breaker": "open",
        "calls": 1,
        "errors": 1,
        "error_rate": 1.0,
        "p50_latency_ms": None,
    }
    assert rows["anthropic"]["calls"] == 0 and rows["anthropic"]["credentials"] == []
    assert "sk-own" not in str(rows)

    other = _rows(key_client("read", for_tenant=other_tenant).get(HEALTH))["openai"]
    assert [c["id"] for c in other["credentials"]] == [theirs.pk]
    assert other["credentials"][0]["breaker"] == "closed"


def test_api_needs_the_read_scope(key_client, small_catalog):
    assert_error(key_client("inference").get(HEALTH), 403, "permission_denied")
    assert_error(APIClient().get(HEALTH), 401, "invalid_api_key")
    assert key_client("read", "manage").post(HEALTH, {}, format="json").status_code == 405


def test_staff_without_a_tenant_see_platform_keys_only(operator_client, tenant, small_catalog):
    credential_set(tenant=tenant, provider=small_catalog["openai"], api_key="sk-own-0001")
    rows = _rows(operator_client.get(HEALTH))
    assert rows["openai"]["credentials"] == []


def test_the_schema_documents_the_endpoint_as_a_paginated_list(db):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][HEALTH]["get"]
    assert operation["operationId"] == "providers_health_list"
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    assert "/api/v1/providers/{slug}/" in schema["paths"]  # the detail route is still there
