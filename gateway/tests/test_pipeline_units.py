"""Small pure pieces of the gateway: billed failed attempts, backoff, cache keys, breaker and
rate-limit state machines on the embedded default (in-process)."""

import asyncio
import time
from decimal import Decimal

import pytest

from core.shared_state import shared_state_clear
from gateway.services import breaker, ratelimit
from gateway.services import response_cache as cache
from gateway.services.attempts import attempt_from_error, backoff
from gateway.services.stream_feed import ClientFeed
from llm.providers.contract import ProviderError, Usage
from llm.services.routing_snapshots import ModelInfo

MODEL = ModelInfo(
    qualified_id="openai/gpt-4o-mini",
    provider_slug="openai",
    model_id="gpt-4o-mini",
    model_pk=1,
    provider_pk=1,
    wire_format="openai_chat",
    base_url="https://api.openai.com/v1",
    auth_style="bearer",
    api_key_env="OPENAI_API_KEY",
    base_url_env="TOLLGATE_OPENAI_BASE_URL",
    context_window=128000,
    max_output_tokens=16384,
    input_price_per_1m=Decimal("0.15"),
    output_price_per_1m=Decimal("0.60"),
    cached_input_price_per_1m=Decimal("0.075"),
    capabilities=("streaming",),
    speed_tier="fast",
    quality_tier="good",
)


def test_a_failed_attempt_the_provider_billed_carries_its_cost():
    err = ProviderError(
        "stream cut", kind="connection", retryable=True, usage=Usage(1000, 500, 200)
    )
    attempt = attempt_from_error(MODEL, err, time.monotonic())
    # 800 x 0.15 + 200 x 0.075 + 500 x 0.60 per 1M
    assert attempt.cost_usd == Decimal("0.000435")
    assert attempt.as_dict()["cost_usd"] == "0.0004350000"
    unbilled = attempt_from_error(MODEL, ProviderError("boom", kind="server"), time.monotonic())
    assert unbilled.cost_usd == 0 and "cost_usd" not in unbilled.as_dict()


def test_backoff_honours_retry_after_and_grows_otherwise():
    assert 2.0 <= backoff(1, 2.0) <= 2.05
    first = [backoff(1, None) for _ in range(50)]
    third = [backoff(3, None) for _ in range(50)]
    assert max(first) <= 0.2 and min(third) >= 0.4


def test_cache_key_ignores_fields_that_do_not_shape_the_answer():
    body = {"messages": [{"role": "user", "content": "x"}], "temperature": 0}
    base = cache.cache_key(tenant_id=1, candidates=["a"], body=body)
    assert base == cache.cache_key(
        tenant_id=1, candidates=["a"], body={**body, "user": "u", "stream": False}
    )
    assert base != cache.cache_key(tenant_id=2, candidates=["a"], body=body)
    assert base != cache.cache_key(tenant_id=1, candidates=["b"], body=body)
    assert base != cache.cache_key(tenant_id=1, candidates=["a"], body={**body, "temperature": 1})


@pytest.fixture
def embedded(settings):
    settings.REDIS_URL = ""
    breaker.breaker_reset_local()
    shared_state_clear()
    yield
    breaker.breaker_reset_local()
    shared_state_clear()


def test_in_process_breaker_opens_then_lets_one_probe_through(embedded, settings):
    settings.TOLLGATE_BREAKER_THRESHOLD = 2
    settings.TOLLGATE_BREAKER_COOLDOWN_SECONDS = 0.2

    async def scenario():
        kw = {"provider": "p", "credential": "platform"}
        assert await breaker.breaker_allow(**kw) == (True, False)
        await breaker.breaker_record(**kw, ok=False)
        assert (await breaker.breaker_allow(**kw))[0] is True
        await breaker.breaker_record(**kw, ok=False)
        assert (await breaker.breaker_allow(**kw))[0] is False
        await asyncio.sleep(0.25)
        assert (await breaker.breaker_allow(**kw))[0] is True  # the probe
        assert (await breaker.breaker_allow(**kw))[0] is False  # only one
        await breaker.breaker_record(**kw, ok=True)
        assert await breaker.breaker_allow(**kw) == (True, False)

    asyncio.run(scenario())


def test_in_process_rate_limit_counts_requests_and_tokens(embedded):
    async def scenario():
        admit = ratelimit.rate_limit_admit
        assert await admit(key_id=7, rpm_limit=2, tpm_limit=None, tokens=1) is None
        assert await admit(key_id=7, rpm_limit=2, tpm_limit=None, tokens=1) is None
        retry_after = await admit(key_id=7, rpm_limit=2, tpm_limit=None, tokens=1)
        assert 1 <= retry_after <= 60
        assert await admit(key_id=8, rpm_limit=None, tpm_limit=100, tokens=500) is None
        assert await admit(key_id=8, rpm_limit=None, tpm_limit=100, tokens=1) is not None
        assert await admit(key_id=9, rpm_limit=None, tpm_limit=None, tokens=10**9) is None

    asyncio.run(scenario())


def test_redis_rate_limit_is_atomic_under_concurrency(redis_client):
    """64 concurrent admissions against a limit of 10: exactly 10 get through."""

    async def scenario():
        from core import redis as redis_config

        results = await asyncio.gather(
            *[
                ratelimit.rate_limit_admit(key_id=42, rpm_limit=10, tpm_limit=None, tokens=1)
                for _ in range(64)
            ]
        )
        redis_config.close_pipelined_redis()
        return results

    results = asyncio.run(scenario())
    assert sum(1 for r in results if r is None) == 10


def test_redis_breaker_trusts_a_healthy_answer_for_its_ttl(redis_client, monkeypatch):
    """No Redis read per request while healthy; another process's open breaker is seen within
    STATE_TTL_SECONDS, a failure recorded here at once."""
    monkeypatch.setattr(breaker, "STATE_TTL_SECONDS", 0.3)
    monkeypatch.setattr(breaker, "_threshold", lambda: 1)
    key = "tollgate:cb:openai:platform"

    async def scenario():
        from core import redis as redis_config

        allow = breaker.breaker_allow
        assert await allow(provider="openai", credential="platform") == (True, False)
        # Another process opens it (the same fields its failure script writes).
        redis_client.hset(key, mapping={"failures": 5, "open_until": time.time() + 60})
        assert await allow(provider="openai", credential="platform") == (True, False)
        await asyncio.sleep(0.35)
        assert await allow(provider="openai", credential="platform") == (False, True)

        redis_client.delete(key)
        await asyncio.sleep(0.35)
        assert await allow(provider="openai", credential="platform") == (True, False)
        await breaker.breaker_record(provider="openai", credential="platform", ok=False)
        assert await allow(provider="openai", credential="platform") == (False, True)
        redis_config.close_pipelined_redis()

    asyncio.run(scenario())


async def test_concurrent_snapshot_misses_share_one_load():
    import threading

    from gateway.services import snapshots as auth_cache

    calls = []
    release = threading.Event()

    def slow_load():
        calls.append(1)
        release.wait(2)
        return "snapshot"

    waiters = [
        asyncio.ensure_future(auth_cache._load_once(("tenant", 42), slow_load)) for _ in range(10)
    ]
    await asyncio.sleep(0.05)
    release.set()
    assert await asyncio.gather(*waiters) == ["snapshot"] * 10
    assert len(calls) == 1
    # Once done, the next miss loads again (nothing is cached by the single-flight itself).
    release.set()
    assert await auth_cache._load_once(("tenant", 42), slow_load) == "snapshot"
    assert len(calls) == 2


def test_stream_events_already_queued_go_to_the_client_in_one_write():
    async def scenario():
        feed = ClientFeed(keep_transcript=False)
        writes = []
        client = feed.client_iter()
        for event in (b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n"):
            await feed.emit(event)
        writes.append(await client.__anext__())
        await feed.emit(b"data: 4\n\n")
        writes.append(await client.__anext__())
        await feed.emit(b"data: [DONE]\n\n")
        await feed.queue.put(None)
        writes.extend([chunk async for chunk in client])
        return writes, feed.client_gone

    writes, gone = asyncio.run(scenario())
    assert writes == [b"data: 1\n\ndata: 2\n\ndata: 3\n\n", b"data: 4\n\n", b"data: [DONE]\n\n"]
    assert not gone
