"""The per-key limits as buckets refilled continuously (gateway/services/ratelimit.py), on a
clock the test moves: each scenario runs on the embedded default's shared file and on Redis
(the Lua script), so the two keep one arithmetic."""

import asyncio

import pytest

from core import redis as redis_config
from core.shared_state import shared_state_clear
from gateway.services import ratelimit

MINUTE_START = 1_796_000_040.0  # a whole minute (divisible by 60)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture(params=["embedded", "redis"])
def clock(request, settings, monkeypatch):
    """The limiter's clock at a minute's start, on the backend of the parameter."""
    if request.param == "embedded":
        settings.REDIS_URL = ""
        shared_state_clear()
    else:
        request.getfixturevalue("redis_client")  # skipped without Redis, a failure in CI
    ratelimit._refused_until.clear()
    clock = Clock(MINUTE_START)
    monkeypatch.setattr(ratelimit, "time", clock)
    yield clock
    ratelimit._refused_until.clear()
    shared_state_clear()


def run(scenario):
    async def with_loop_client_closed():
        try:
            return await scenario()
        finally:
            redis_config.close_pipelined_redis()

    return asyncio.run(with_loop_client_closed())


def admit(key_id: int, *, rpm: int | None = None, tpm: int | None = None, tokens: int = 0):
    return ratelimit.rate_limit_admit(key_id=key_id, rpm_limit=rpm, tpm_limit=tpm, tokens=tokens)


def test_a_burst_across_a_minute_turn_takes_the_bucket_once(clock):
    """Fixed one-minute windows would admit 6 before the turn and 6 after it."""
    clock.now = MINUTE_START + 59.5

    async def scenario():
        verdicts = []
        for _ in range(20):
            verdicts.append(await admit(1, rpm=6))
            clock.now += 0.05  # 20 requests over one second, across the minute's turn
        return verdicts

    verdicts = run(scenario)
    assert verdicts[:6] == [None] * 6
    assert all(v is not None for v in verdicts[6:]), verdicts


def test_an_empty_bucket_refills_one_request_per_share_of_the_minute(clock):
    async def scenario():
        for _ in range(6):
            assert await admit(2, rpm=6) is None
        assert await admit(2, rpm=6) == 10  # a request's share of the minute
        clock.now += 9.9
        assert await admit(2, rpm=6) == 1  # 0.1 s left, rounded up to whole seconds
        clock.now += 0.1
        assert await admit(2, rpm=6) is None
        assert await admit(2, rpm=6) == 10
        clock.now += 60
        for _ in range(6):  # idle for a minute: full again, and no fuller
            assert await admit(2, rpm=6) is None
        assert await admit(2, rpm=6) is not None

    run(scenario)


def test_tokens_take_their_share_and_a_refusal_takes_nothing(clock):
    async def scenario():
        assert await admit(3, tpm=100, tokens=60) is None
        assert await admit(3, tpm=100, tokens=60) == 12  # 60 tokens refill in 36 s; 24 s free
        assert await admit(3, tpm=100, tokens=40) is None  # the refusal took nothing
        assert await admit(3, tpm=100, tokens=1) == 1

    run(scenario)


def test_a_request_larger_than_the_bucket_goes_only_into_a_full_one(clock):
    async def scenario():
        assert await admit(4, tpm=100, tokens=10) is None
        assert await admit(4, tpm=100, tokens=500) == 6  # the 10 tokens refill in 6 s
        clock.now += 6
        assert await admit(4, tpm=100, tokens=500) is None  # full: taken, the bucket in debt
        assert await admit(4, tpm=100, tokens=1) == 241  # 300 s of refill, 60 of them free

    run(scenario)


def test_tokens_learnt_after_the_call_are_taken_from_the_bucket(clock):
    async def scenario():
        assert await admit(5, tpm=100, tokens=10) is None
        ratelimit.rate_limit_add_tokens(key_id=5, tpm_limit=100, tokens=80)
        await asyncio.sleep(0.05)  # the lazy command goes out with the loop's next write
        assert await admit(5, tpm=100, tokens=20) == 6  # 90 + 20 tokens: 6 s beyond the bucket
        clock.now += 6
        assert await admit(5, tpm=100, tokens=20) is None

    run(scenario)


def test_both_limits_must_have_room_and_neither_is_taken_on_a_refusal(clock):
    async def scenario():
        assert await admit(6, rpm=2, tpm=100, tokens=90) is None
        assert await admit(6, rpm=2, tpm=100, tokens=90) is not None  # tokens over
        assert await admit(6, rpm=2, tpm=100, tokens=10) is None  # the request count untouched
        assert await admit(6, rpm=2, tpm=100, tokens=0) == 30  # now the requests are over

    run(scenario)


def test_a_refused_key_is_remembered_until_its_retry_after(clock):
    async def scenario():
        assert await admit(7, rpm=1) is None
        assert not ratelimit.rate_limit_refused_lately(key_id=7)
        assert await admit(7, rpm=1) == 60
        assert ratelimit.rate_limit_refused_lately(key_id=7)
        clock.now += 59.9
        assert ratelimit.rate_limit_refused_lately(key_id=7)
        clock.now += 0.2
        assert not ratelimit.rate_limit_refused_lately(key_id=7)
        assert await admit(7, rpm=1) is None

    run(scenario)


def test_a_refusal_read_twice_gives_the_same_retry_after(clock):
    """The verdict that arrives later (Redis) or at once (the file) reads the same."""

    async def scenario():
        await admit(8, rpm=1)
        pending = ratelimit.rate_limit_start(key_id=8, rpm_limit=1, tpm_limit=None, tokens=0)
        return await pending.retry_after(), await pending.retry_after()

    assert run(scenario) == (60, 60)
