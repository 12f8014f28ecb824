"""Idempotency, the response cache, rate limits, budgets and billing of cut-off streams."""

import asyncio
import json
import threading
import time
from decimal import Decimal

import openai
import pytest

from tests.integration.conftest import MESSAGES, cost, settle_events
from tests.support.mock_upstreams import Ok, ServerError, Slow, TruncatedStream

BODY = {"model": "auto", "messages": MESSAGES}


def test_idempotent_retry_replays_without_a_second_call_or_charge(gw):
    headers = {"Idempotency-Key": "order-42"}
    first = gw.post(BODY, headers=headers)
    second = gw.post(BODY, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["x-tollgate-request-id"] == first.headers["x-tollgate-request-id"]
    assert second.headers["x-tollgate-cost-usd"] == first.headers["x-tollgate-cost-usd"]
    assert second.headers["idempotent-replayed"] == "true"
    assert len(gw.upstreams["openai"].requests) == 1
    assert len(settle_events(1)) == 1


def test_idempotency_key_is_per_tenant(gw):
    from tenants.services import api_key_create, tenant_create

    other = tenant_create(slug="globex", name="Globex")
    _, other_secret = api_key_create(tenant=other, scopes=["inference"])
    from llm.models import RoutingConfig

    RoutingConfig.objects.create(
        tenant=other, name="default", is_default=True, primary_model="openai/gpt-4o-mini"
    )
    headers = {"Idempotency-Key": "same-key"}
    assert gw.post(BODY, headers=headers).status_code == 200
    assert gw.post(BODY, headers=headers, secret=other_secret).status_code == 200
    assert len(gw.upstreams["openai"].requests) == 2


def test_same_idempotency_key_with_another_body_is_409(gw):
    headers = {"Idempotency-Key": "order-43"}
    assert gw.post(BODY, headers=headers).status_code == 200
    other = {"model": "auto", "messages": [{"role": "user", "content": "something else"}]}
    response = gw.post(other, headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert len(gw.upstreams["openai"].requests) == 1


def test_concurrent_duplicates_make_one_upstream_call(gw):
    gw.upstreams["openai"].script(Slow(1))
    headers = {"Idempotency-Key": "order-44"}
    results = []

    def send():
        results.append(gw.post(BODY, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200, 200]
    assert results[0].content == results[1].content
    assert len(gw.upstreams["openai"].requests) == 1
    assert len(settle_events(1)) == 1


def test_failed_request_releases_its_idempotency_key(gw):
    for upstream in gw.upstreams.values():
        upstream.script(ServerError(500), ServerError(500))
    headers = {"Idempotency-Key": "order-45"}
    assert gw.post(BODY, headers=headers).status_code == 502
    assert gw.post(BODY, headers=headers).status_code == 200


def test_idempotent_stream_replays_the_same_events(gw):
    headers = {"Idempotency-Key": "stream-1"}
    first = gw.post({**BODY, "stream": True}, headers=headers)
    settle_events(1)
    second = gw.post({**BODY, "stream": True}, headers=headers)
    assert second.text == first.text
    assert second.text.rstrip().endswith("data: [DONE]")
    assert len(gw.upstreams["openai"].requests) == 1


def test_cache_hit_costs_nothing_and_skips_the_upstream(gw):
    gw.set_config(cache_ttl_seconds=60)
    gw.upstreams["openai"].script(Ok(content="cached answer", input_tokens=1000, output_tokens=200))
    first = gw.post(BODY)
    second = gw.post({**BODY, "user": "someone-else"})
    assert first.headers["x-tollgate-cache"] == "miss"
    assert second.headers["x-tollgate-cache"] == "hit"
    assert second.headers["x-tollgate-cost-usd"] == "0"
    assert second.json()["choices"][0]["message"]["content"] == "cached answer"
    assert len(gw.upstreams["openai"].requests) == 1
    miss, hit = settle_events(2)
    assert miss.status == "success"
    assert hit.status == "cache_hit"
    assert hit.cost_usd == 0
    assert hit.saved_usd == cost("openai/gpt-4o-mini", 1000, 200)
    different = gw.post({"model": "auto", "messages": [{"role": "user", "content": "other"}]})
    assert different.headers["x-tollgate-cache"] == "miss"


def test_cache_is_off_unless_the_config_opts_in(gw):
    gw.post(BODY)
    assert gw.post(BODY).headers["x-tollgate-cache"] == "miss"
    assert len(gw.upstreams["openai"].requests) == 2


def test_requests_per_minute_limit_is_429_with_retry_after(gw):
    gw.key.rpm_limit = 2
    gw.key.save()
    assert gw.post(BODY).status_code == 200
    assert gw.post(BODY).status_code == 200
    limited = gw.post(BODY)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert len(gw.upstreams["openai"].requests) == 2
    events = settle_events(3)
    rejected = [e for e in events if e.status == "rejected"]
    assert len(rejected) == 1
    assert rejected[0].cost_usd == 0
    assert rejected[0].error_code == "rate_limited"


def test_tokens_per_minute_limit(gw):
    gw.key.tpm_limit = 50
    gw.key.save()
    long_body = {"model": "auto", "messages": [{"role": "user", "content": "word " * 100}]}
    assert gw.post(long_body).status_code == 200  # a full bucket takes one bigger than itself
    limited = gw.post(long_body)
    assert limited.status_code == 429
    assert "retry-after" in limited.headers


def test_refused_rate_limit_answers_before_the_budget(gw):
    """The limit's verdict arrives after the reservation's (one round trip for both), yet a
    refused limit still answers 429 where the budget would have answered 402."""
    from billing.models import Budget

    gw.key.rpm_limit = 1
    gw.key.save()
    Budget.objects.create(
        tenant=gw.tenant, scope="tenant", period="daily", limit_usd=Decimal("0.000001")
    )
    assert gw.post(BODY).status_code == 402  # admitted by the limit, refused by the budget
    limited = gw.post(BODY)
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limited"
    assert gw.upstreams["openai"].requests == []


def test_refused_rate_limit_gives_the_budget_hold_back(gw, monkeypatch):
    """A strict token budget with room for one worst case beside the tokens spent: the hold a
    rate-limited request took while its verdict was on the way is given back at once, so another
    key's request still fits; a key refused lately is checked first and takes no hold at all."""
    from django.conf import settings

    from billing.models import Budget
    from gateway.services import admission
    from tenants.services import api_key_create

    gw.set_config(fallback_models=[])  # one candidate: the worst case is its input + max_tokens
    body = {**BODY, "max_tokens": 1000}
    Budget.objects.create(
        tenant=gw.tenant, scope="tenant", period="daily", limit_usd=None, limit_tokens=1500
    )
    gw.key.rpm_limit = 1
    gw.key.save()
    other, other_secret = api_key_create(tenant=gw.tenant, scopes=["inference"])
    reserved = []
    real_reserve = admission.budget_reserve

    async def counting_reserve(**kwargs):
        reserved.append(kwargs["api_key_id"])
        return await real_reserve(**kwargs)

    monkeypatch.setattr(admission, "budget_reserve", counting_reserve)
    assert gw.post(body).status_code == 200
    assert gw.post(body).status_code == 429  # on Redis: held ~1,000 tokens, then gave them back
    assert gw.post(body, secret=other_secret).status_code == 200, "the hold was not given back"
    assert gw.post(body).status_code == 429
    if settings.REDIS_URL:  # the verdict came with the reservation's reply
        assert reserved == [gw.key.pk, gw.key.pk, other.pk]
    else:  # the shared file answers at once: refused before any hold
        assert reserved == [gw.key.pk, other.pk]
    assert len(gw.upstreams["openai"].requests) == 2


def test_rate_limit_and_reservation_go_to_redis_in_one_write(gw, redis_client, monkeypatch):
    from billing.models import Budget
    from billing.services import budgets
    from core import redis_pipelined
    from gateway.services import ratelimit

    gw.key.rpm_limit = 1000
    gw.key.save()
    Budget.objects.create(tenant=gw.tenant, scope="tenant", period="daily", limit_usd=Decimal(5))
    writes = []
    real_flush = redis_pipelined._Protocol._flush

    def recording_flush(self):
        writes.append(b"".join(self._outgoing))
        real_flush(self)

    monkeypatch.setattr(redis_pipelined._Protocol, "_flush", recording_flush)
    assert gw.post(BODY).status_code == 200  # warms the budget counters (seeded on first use)
    writes.clear()
    assert gw.post(BODY).status_code == 200
    limit_sha, reserve_sha = ratelimit._ADMIT.sha.encode(), budgets._RESERVE.sha.encode()
    together = [w for w in writes if limit_sha in w and reserve_sha in w]
    assert len(together) == 1, [w[:80] for w in writes]


def test_rate_limit_holds_across_processes(gw, redis_client):
    """Another process (its own loop and Redis connection) spends the same key's bucket."""
    from gateway.services.ratelimit import rate_limit_admit

    gw.key.rpm_limit = 3
    gw.key.save()

    async def other_process():
        from core import redis as redis_config

        results = [
            await rate_limit_admit(key_id=gw.key.pk, rpm_limit=3, tpm_limit=None, tokens=1)
            for _ in range(2)
        ]
        redis_config.close_pipelined_redis()
        return results

    assert asyncio.run(other_process()) == [None, None]
    assert gw.post(BODY).status_code == 200
    assert gw.post(BODY).status_code == 429


def test_strict_budget_is_402_and_recorded_as_rejected(gw):
    from billing.models import Budget

    Budget.objects.create(
        tenant=gw.tenant, scope="tenant", period="daily", limit_usd=Decimal("0.000001")
    )
    response = gw.post(BODY)
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert gw.upstreams["openai"].requests == []
    [event] = settle_events(1)
    assert event.status == "rejected"
    assert event.cost_usd == 0
    assert event.error_code == "budget_exceeded"


def test_model_not_allowed_is_403_and_recorded(gw):
    from llm.models import LLMModel

    LLMModel.objects.filter(model_id="gpt-4.1").update(output_price_per_1m=None)
    from gateway.services.snapshots import snapshots_clear

    snapshots_clear()
    response = gw.post({"model": "openai/gpt-4.1", "messages": MESSAGES})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"
    [event] = settle_events(1)
    assert event.status == "rejected"


def test_client_disconnect_mid_stream_is_still_billed_in_full(gw):
    words = " ".join(f"w{i}" for i in range(40))
    gw.upstreams["openai"].script(
        Ok(content=words, input_tokens=30, output_tokens=40, chunk_delay=0.05)
    )
    gw.stream_and_leave(content="hi")  # gone after the first chunk
    [event] = settle_events(1)
    assert event.output_tokens == 40  # the provider's own count, read after the client left
    assert event.input_tokens == 30
    assert event.cost_usd == cost("openai/gpt-4o-mini", 30, 40)


@pytest.mark.parametrize("stream", [False, True])
def test_exactly_one_event_per_request(gw, stream):
    gw.upstreams["openai"].script(ServerError(500), ServerError(500))
    for _ in range(3):
        gw.post({**BODY, "stream": stream})
    gw.post(b"{broken")
    events = settle_events(4)
    assert len(events) == 4
    assert len({e.request_id for e in events}) == 4
    assert [e.status for e in events[:3]] == ["fallback_success", "success", "success"]


def test_client_leaving_a_plain_request_does_not_stop_metering(gw):
    import httpx

    gw.upstreams["openai"].script(Ok(input_tokens=20, output_tokens=7, delay=1.0))
    with pytest.raises(httpx.ReadTimeout):
        gw.post(BODY, timeout=0.3)
    [event] = settle_events(1)
    assert event.status == "success"
    assert event.cost_usd == cost("openai/gpt-4o-mini", 20, 7)


def test_idempotent_result_is_stored_even_if_the_first_client_left(gw):
    import httpx

    gw.upstreams["openai"].script(Ok(content="worth keeping", delay=0.8))
    headers = {"Idempotency-Key": "leaver-1"}
    with pytest.raises(httpx.ReadTimeout):
        gw.post(BODY, headers=headers, timeout=0.3)
    retry = gw.post(BODY, headers=headers)
    assert retry.status_code == 200
    assert retry.json()["choices"][0]["message"]["content"] == "worth keeping"
    assert len(gw.upstreams["openai"].requests) == 1
    assert len(settle_events(1)) == 1


def test_cached_answer_replays_as_a_stream(gw):
    gw.set_config(cache_ttl_seconds=60)
    gw.upstreams["openai"].script(Ok(content="cached and streamed"))
    assert gw.post(BODY).headers["x-tollgate-cache"] == "miss"
    with gw.client().chat.completions.with_streaming_response.create(
        model="auto", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        assert response.headers["x-tollgate-cache"] == "hit"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "cached and streamed"
    assert chunks[-1].usage.completion_tokens == 5
    assert len(gw.upstreams["openai"].requests) == 1
    assert [e.status for e in settle_events(2)] == ["success", "cache_hit"]


def test_streamed_answer_fills_the_cache_for_plain_and_streamed_repeats(gw):
    gw.set_config(cache_ttl_seconds=60)
    gw.upstreams["openai"].script(Ok(content="streamed once", input_tokens=40, output_tokens=7))
    with gw.client().chat.completions.with_streaming_response.create(
        model="auto", messages=MESSAGES, stream=True
    ) as response:
        assert response.headers["x-tollgate-cache"] == "miss"
        streamed = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    plain = gw.post(BODY)
    assert plain.headers["x-tollgate-cache"] == "hit"
    answer = plain.json()
    assert answer["choices"][0]["message"]["content"] == streamed == "streamed once"
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] == 7
    with gw.client().chat.completions.with_streaming_response.create(
        model="auto", messages=MESSAGES, stream=True
    ) as response:
        assert response.headers["x-tollgate-cache"] == "hit"
        again = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert again == "streamed once"
    assert len(gw.upstreams["openai"].requests) == 1
    miss, *hits = settle_events(3)
    assert [e.status for e in hits] == ["cache_hit", "cache_hit"]
    assert hits[0].saved_usd == miss.cost_usd == cost("openai/gpt-4o-mini", 40, 7)


def test_streamed_tool_call_is_cached_whole(gw):
    gw.set_config(cache_ttl_seconds=60)
    call = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
    gw.upstreams["openai"].script(Ok(tool_call=call))
    with gw.client().chat.completions.with_streaming_response.create(
        model="auto", messages=MESSAGES, stream=True
    ) as response:
        list(response.parse())
    message = gw.post(BODY).json()["choices"][0]["message"]
    [tool_call] = message["tool_calls"]
    assert tool_call["function"]["name"] == "get_weather"
    assert json.loads(tool_call["function"]["arguments"]) == call["arguments"]
    assert len(gw.upstreams["openai"].requests) == 1


def test_a_stream_that_failed_midway_is_not_cached(gw):
    gw.set_config(cache_ttl_seconds=60)
    gw.upstreams["openai"].script(TruncatedStream(after_chunks=2), Ok(content="complete"))
    stream = gw.client().chat.completions.create(model="auto", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):  # the error event the gateway ends the stream with
        list(stream)
    settle_events(1)
    second = gw.post(BODY)
    assert second.headers["x-tollgate-cache"] == "miss"
    assert second.json()["choices"][0]["message"]["content"] == "complete"
    assert len(gw.upstreams["openai"].requests) == 2
