"""Fallback order, retries, deadline, circuit breakers and key availability, end to end."""

import asyncio
import time

import openai
import pytest

from tests.integration.conftest import MESSAGES, cost, settle_events
from tests.support.mock_upstreams import (
    AuthError,
    ContextLengthExceeded,
    Malformed,
    Ok,
    OutOfCredit,
    RateLimited,
    ServerError,
    Slow,
    TruncatedStream,
)

BODY = {"model": "auto", "messages": MESSAGES}


def _calls(gw) -> dict[str, int]:
    return {name: len(upstream.requests) for name, upstream in gw.upstreams.items()}


def _trail(event) -> list[tuple[str, str, str]]:
    return [(a["model"], a["status"], a.get("kind", "")) for a in event.attempts]


def test_rate_limit_is_retried_after_retry_after_on_the_same_model(gw):
    gw.upstreams["openai"].script(RateLimited(retry_after=1))
    started = time.monotonic()
    response = gw.post(BODY)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 1.0
    assert _calls(gw) == {"openai": 2, "anthropic": 0, "google": 0}
    assert response.headers["x-tollgate-attempts"] == "2"
    assert response.headers["x-tollgate-fallback"] == "false"
    [event] = settle_events(1)
    assert event.status == "success"
    assert _trail(event) == [
        ("openai/gpt-4o-mini", "error", "rate_limit"),
        ("openai/gpt-4o-mini", "ok", ""),
    ]


def test_retry_after_beyond_the_deadline_skips_to_the_next_model(gw):
    gw.set_config(params={"timeout_seconds": 5})
    gw.upstreams["openai"].script(RateLimited(retry_after=30))
    started = time.monotonic()
    response = gw.post(BODY)
    assert response.status_code == 200
    assert time.monotonic() - started < 3
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert response.headers["x-tollgate-fallback"] == "true"
    [event] = settle_events(1)
    assert event.status == "fallback_success"
    assert "exceeds the remaining deadline" in event.attempts[0]["note"]


def test_fallback_order_through_the_chain_on_5xx(gw):
    gw.upstreams["openai"].script(ServerError(500), ServerError(503))
    gw.upstreams["anthropic"].script(ServerError(529), ServerError(500))
    gw.upstreams["google"].script(Ok(content="from gemini", input_tokens=100, output_tokens=10))
    completion = gw.client().chat.completions.with_raw_response.create(
        model="auto", messages=MESSAGES
    )
    assert completion.parse().choices[0].message.content == "from gemini"
    assert completion.headers["x-tollgate-model"] == "google/gemini-2.5-flash"
    assert completion.headers["x-tollgate-provider"] == "google"
    assert completion.headers["x-tollgate-fallback"] == "true"
    assert completion.headers["x-tollgate-attempts"] == "5"
    [event] = settle_events(1)
    assert event.status == "fallback_success"
    assert event.fallback is True
    assert [m for m, _, _ in _trail(event)] == [
        "openai/gpt-4o-mini",
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "anthropic/claude-haiku-4-5",
        "google/gemini-2.5-flash",
    ]
    assert event.cost_usd == cost("google/gemini-2.5-flash", 100, 10)


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        (ContextLengthExceeded(), "context_length"),
        (AuthError(), "auth"),
        (Malformed(), "malformed"),
        (OutOfCredit(), "quota"),
    ],
)
def test_errors_that_need_another_model_are_not_retried_on_the_same_one(gw, behaviour, kind):
    gw.upstreams["openai"].script(behaviour, behaviour)
    response = gw.post(BODY)
    assert response.status_code == 200
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert _calls(gw) == {"openai": 1, "anthropic": 1, "google": 0}
    [event] = settle_events(1)
    assert _trail(event)[0] == ("openai/gpt-4o-mini", "error", kind)


def test_anthropic_out_of_credit_falls_back_instead_of_failing_the_request(gw):
    """Anthropic says "credit balance is too low" with a 400: the account's problem, not the
    client's request, so the next model serves it."""
    gw.set_config(params={"max_retries": 0})
    gw.upstreams["openai"].script(ServerError(500))
    gw.upstreams["anthropic"].script(OutOfCredit())
    response = gw.post(BODY)
    assert response.status_code == 200
    assert response.headers["x-tollgate-model"] == "google/gemini-2.5-flash"
    [event] = settle_events(1)
    assert _trail(event)[1] == ("anthropic/claude-haiku-4-5", "error", "quota")


def test_timeout_falls_back(gw, settings):
    settings.TOLLGATE_UPSTREAM_TIMEOUT_SECONDS = 0.5
    gw.upstreams["openai"].script(Slow(2))
    started = time.monotonic()
    response = gw.post(BODY)
    assert response.status_code == 200
    assert time.monotonic() - started < 1.8
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    [event] = settle_events(1)
    assert _trail(event)[0] == ("openai/gpt-4o-mini", "error", "timeout")


def test_connection_refused_falls_back(gw, monkeypatch):
    monkeypatch.setenv("TOLLGATE_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    response = gw.post(BODY)
    assert response.status_code == 200
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    [event] = settle_events(1)
    assert _trail(event)[0] == ("openai/gpt-4o-mini", "error", "connection")


def test_deadline_expiry_is_504(gw):
    gw.set_config(params={"timeout_seconds": 1})
    for upstream in gw.upstreams.values():
        upstream.script(Slow(3))
    started = time.monotonic()
    response = gw.post(BODY)
    assert time.monotonic() - started < 2.5
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert response.headers["x-tollgate-request-id"]
    [event] = settle_events(1)
    assert event.status == "error"
    assert event.error_code == "upstream_timeout"
    assert event.cost_usd == 0


def test_all_attempts_failing_is_502_listing_them(gw):
    for upstream in gw.upstreams.values():
        upstream.script(*[ServerError(500)] * 2)
    with pytest.raises(openai.APIStatusError) as caught:
        gw.client().chat.completions.create(model="auto", messages=MESSAGES)
    assert caught.value.status_code == 502
    message = caught.value.body["message"]
    for model in ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"):
        assert model in message
    assert caught.value.body["code"] == "upstream_error"


def test_provider_without_a_key_is_skipped_with_a_note(gw, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    response = gw.post(BODY)
    assert response.status_code == 200
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert response.headers["x-tollgate-attempts"] == "1"
    assert _calls(gw)["openai"] == 0
    [event] = settle_events(1)
    skipped = event.attempts[0]
    assert skipped["status"] == "skipped"
    assert "OPENAI_API_KEY" in skipped["note"]


def test_no_provider_with_a_key_is_502_naming_why(gw, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name)
    response = gw.post(BODY)
    assert response.status_code == 502
    assert "no usable key" in response.json()["error"]["message"]
    assert sum(_calls(gw).values()) == 0


def test_circuit_breaker_opens_skips_and_recovers_half_open(gw, settings):
    settings.TOLLGATE_BREAKER_THRESHOLD = 2
    settings.TOLLGATE_BREAKER_COOLDOWN_SECONDS = 1.0
    gw.set_config(params={"max_retries": 0})
    gw.upstreams["openai"].script(ServerError(500), ServerError(500))
    for _ in range(2):
        assert gw.post(BODY).headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert _calls(gw)["openai"] == 2
    response = gw.post(BODY)  # open: openai is not called at all
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert _calls(gw)["openai"] == 2
    events = settle_events(3)
    assert events[-1].attempts[0]["status"] == "skipped"
    assert "circuit breaker open" in events[-1].attempts[0]["note"]
    time.sleep(1.1)  # half-open: one probe goes through and closes the breaker
    assert gw.post(BODY).headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    assert gw.post(BODY).headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    assert _calls(gw)["openai"] == 4


def test_breaker_state_is_shared_through_redis(gw, redis_client, settings):
    """Failures recorded by another process (another event loop and Redis connection here)
    open the breaker for this server too."""
    from gateway.services.breaker import breaker_record

    settings.TOLLGATE_BREAKER_THRESHOLD = 3

    async def other_process():
        from core import redis as redis_config

        for _ in range(3):
            await breaker_record(provider="openai", credential="platform", ok=False)
        redis_config.close_pipelined_redis()

    asyncio.run(other_process())
    assert redis_client.hget("tollgate:cb:openai:platform", "open_until") is not None
    response = gw.post(BODY)
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert _calls(gw)["openai"] == 0


def test_breaker_opened_elsewhere_is_seen_within_the_state_ttl(gw, redis_client, monkeypatch):
    from gateway.services import breaker

    monkeypatch.setattr(breaker, "STATE_TTL_SECONDS", 0.3)
    assert gw.post(BODY).headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    redis_client.hset(
        "tollgate:cb:openai:platform", mapping={"failures": 5, "open_until": time.time() + 60}
    )
    time.sleep(0.35)
    assert gw.post(BODY).headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert _calls(gw)["openai"] == 1


def test_streaming_falls_back_before_the_first_byte(gw):
    gw.upstreams["openai"].script(ServerError(500), RateLimited(retry_after=None))
    gw.upstreams["anthropic"].script(Ok(content="streamed by claude"))
    with gw.client().chat.completions.with_streaming_response.create(
        model="auto", messages=MESSAGES, stream=True
    ) as response:
        headers = response.headers
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert text == "streamed by claude"
    assert headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert headers["x-tollgate-fallback"] == "true"
    [event] = settle_events(1)
    assert event.status == "fallback_success"


def test_stream_truncated_after_the_first_byte_ends_with_an_error_and_is_billed(gw):
    gw.upstreams["openai"].script(TruncatedStream(after_chunks=2))
    received = []
    stream = gw.client().chat.completions.create(model="auto", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received)  # the first chunks reached the client: no fallback possible
    assert _calls(gw) == {"openai": 1, "anthropic": 0, "google": 0}
    [event] = settle_events(1)
    assert event.status == "error"
    assert event.output_tokens > 0
    assert event.input_tokens > 0
    assert event.cost_usd == cost("openai/gpt-4o-mini", event.input_tokens, event.output_tokens)
    assert event.cost_usd > 0


def test_malformed_stream_falls_back_when_nothing_was_sent(gw):
    gw.upstreams["openai"].script(Malformed())
    response = gw.post({**BODY, "stream": True})
    assert response.status_code == 200
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert response.text.rstrip().endswith("data: [DONE]")


def test_redis_outage_still_serves_and_meters(gw, redis_client, monkeypatch, settings):
    """Breakers, rate limits, cache and idempotency fail open; usage events and budgets fall
    back to the database, so nothing is lost."""
    assert gw.post(BODY).status_code == 200  # warm snapshots
    settle_events(1)
    settings.REDIS_URL = "redis://127.0.0.1:1/4"
    response = gw.post(BODY, headers={"Idempotency-Key": "during-outage"})
    assert response.status_code == 200, response.text
    stream = gw.post({**BODY, "stream": True})
    assert stream.text.rstrip().endswith("data: [DONE]")
    from billing.models import UsageEvent

    deadline = time.monotonic() + 10
    while UsageEvent.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert UsageEvent.objects.count() == 3


def test_speed_priority_prefers_the_model_observed_to_answer_faster(gw):
    """Both models are in the fast tier; without observations the cheaper (openai) leads."""
    gw.set_config(fallback_models=["anthropic/claude-haiku-4-5"], params={"max_retries": 0})
    speed = {"X-Tollgate-Priority": "speed"}
    gw.upstreams["openai"].script(Ok(delay=0.3), ServerError(500))
    assert gw.post(BODY, headers=speed).headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    # openai fails once, so anthropic answers (quickly) and gets observed too
    assert gw.post(BODY).headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    response = gw.post(BODY, headers=speed)
    assert response.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert response.headers.get("x-tollgate-fallback") != "true"
