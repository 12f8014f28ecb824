"""Token classes end to end: each wire format's usage report (plain and streamed) becomes one
usage event whose every class (uncached input, cache reads, cache writes 5 min / 1 h, output,
reasoning) is priced on its own; the expected costs below are worked out by hand from the
prices in tests/integration/conftest.py (+ Anthropic's published cache-write multipliers), and
the month's billing export adds up to the same sum."""

import csv
import io
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from tests.integration.conftest import MESSAGES, settle_events
from tests.support.mock_upstreams import Ok

# Anthropic charges 1.25x input for a 5-minute cache write and 2x for a 1-hour one.
HAIKU_CACHE_WRITE = {"cache_write_price_per_1m": "1.25", "cache_write_1h_price_per_1m": "2"}

# model, provider, the upstream's usage, the stored classes
# (input, cached, cache_write, output, reasoning), the cost worked out by hand.
CASES = [
    (
        "openai/gpt-4o-mini",  # in 0.15, cached 0.075, out 0.60
        "openai",
        Ok(input_tokens=12345, cached_tokens=2048, output_tokens=777, reasoning_tokens=300),
        (12345, 2048, 0, 777, 300),
        # 10297 * 0.15 + 2048 * 0.075 + 777 * 0.60 = 1544.55 + 153.6 + 466.2 = 2164.35
        Decimal("0.00216435"),
    ),
    (
        "anthropic/claude-haiku-4-5",  # in 1, cached 0.10, write 1.25, write 1h 2, out 5
        "anthropic",
        Ok(
            input_tokens=20000,
            cached_tokens=8000,
            cache_write_tokens=10500,
            cache_write_1h_tokens=4000,
            output_tokens=901,
        ),
        (20000, 8000, 10500, 901, 0),
        # 1500 * 1 + 8000 * 0.10 + 6500 * 1.25 + 4000 * 2 + 901 * 5
        # = 1500 + 800 + 8125 + 8000 + 4505 = 22930
        Decimal("0.02293"),
    ),
    (
        "google/gemini-2.5-flash",  # in 0.30, cached 0.075, out 2.50
        "google",
        Ok(input_tokens=5003, cached_tokens=1000, output_tokens=2001, reasoning_tokens=1500),
        (5003, 1000, 0, 2001, 1500),
        # 4003 * 0.30 + 1000 * 0.075 + 2001 * 2.50 = 1200.9 + 75 + 5002.5 = 6278.4
        Decimal("0.0062784"),
    ),
]


def _price_haiku_cache_writes() -> None:
    from llm.models import LLMModel

    model = LLMModel.objects.get(provider__slug="anthropic", model_id="claude-haiku-4-5")
    for name, value in HAIKU_CACHE_WRITE.items():
        setattr(model, name, Decimal(value))
    model.save()


def _classes(event) -> tuple[int, ...]:
    return (
        event.input_tokens,
        event.cached_tokens,
        event.cache_write_tokens,
        event.output_tokens,
        event.reasoning_tokens,
    )


def _post(gw, body: dict) -> httpx.Response:
    return gw.post(body)


def _export_rows(tenant) -> list[dict]:
    from billing.services.exports import export_create, export_open

    month = timezone.now().astimezone(tenant.tzinfo).strftime("%Y-%m")
    export = export_create(tenant=tenant, month=month)
    with export_open(export=export) as handle:
        return list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8")))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("model", "provider", "ok", "classes", "expected"), CASES)
def test_each_token_class_is_priced_and_stored(gw, stream, model, provider, ok, classes, expected):
    _price_haiku_cache_writes()
    gw.upstreams[provider].script(ok)
    body = {"model": model, "messages": MESSAGES, "max_tokens": 1000}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    response = _post(gw, body)
    assert response.status_code == 200, response.text
    if stream:
        usage = [line for line in response.text.splitlines() if '"usage"' in line][-1]
        assert f'"reasoning_tokens":{classes[4]}' in usage
        assert f'"cache_write_tokens":{classes[2]}' in usage
    else:
        usage = response.json()["usage"]
        assert usage["prompt_tokens"] == classes[0]
        assert usage["prompt_tokens_details"] == {
            "cached_tokens": classes[1],
            "cache_write_tokens": classes[2],
        }
        assert usage["completion_tokens_details"] == {"reasoning_tokens": classes[4]}
        assert Decimal(response.headers["x-tollgate-cost-usd"]) == expected

    [event] = settle_events(1)
    assert _classes(event) == classes
    assert event.cost_usd == expected
    assert str(event.cost_usd) == f"{expected:.10f}"  # to the last stored decimal place

    [row] = _export_rows(gw.tenant)
    assert Decimal(row["cost_usd"]) == expected
    assert (row["cached_tokens"], row["cache_write_tokens"], row["reasoning_tokens"]) == tuple(
        str(n) for n in (classes[1], classes[2], classes[4])
    )


def test_an_export_of_every_format_sums_to_the_hand_worked_costs(gw):
    _price_haiku_cache_writes()
    for model, provider, ok, _classes_, _cost in CASES:
        for stream in (False, True):
            gw.upstreams[provider].script(ok)
            body = {"model": model, "messages": MESSAGES, "stream": stream}
            assert _post(gw, body).status_code == 200
    events = settle_events(2 * len(CASES))
    expected = sum((cost for *_, cost in CASES), Decimal(0)) * 2
    assert sum(event.cost_usd for event in events) == expected
    rows = _export_rows(gw.tenant)
    header = list(rows[0])
    assert header[: header.index("cost_usd") + 1] == [
        "day",
        "tenant",
        "model",
        "provider",
        "config",
        "key_source",
        "requests",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost_usd",
    ]
    assert header[-2:] == ["cache_write_tokens", "reasoning_tokens"]
    assert sum(Decimal(row["cost_usd"]) for row in rows) == expected
    assert sum(int(row["cache_write_tokens"]) for row in rows) == 2 * 10500
    assert sum(int(row["reasoning_tokens"]) for row in rows) == 2 * (300 + 1500)


def test_budget_hold_covers_cache_writes(gw):
    """The worst case is every input token at the dearest input class (Haiku's 1-hour cache
    write, 2x input): a strict budget between the plain-input worst case and that one refuses
    the request before any upstream call."""
    from billing.models import Budget
    from llm.services.request_features import request_features_from

    _price_haiku_cache_writes()
    body = {
        "model": "anthropic/claude-haiku-4-5",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "word " * 40000}],
    }
    estimated = request_features_from(body=body).estimated_input_tokens
    plain_input = (Decimal(estimated) * 1 + 1000 * 5) / 1_000_000  # input at 1, output at 5
    with_writes = (Decimal(estimated) * 2 + 1000 * 5) / 1_000_000  # input at 2 (1-hour write)
    limit = ((plain_input + with_writes) / 2).quantize(Decimal("0.000001"))
    assert plain_input < limit < with_writes
    Budget.objects.create(
        tenant=gw.tenant, scope="tenant", period="daily", limit_usd=limit, mode="strict"
    )
    response = _post(gw, body)
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert gw.upstreams["anthropic"].requests == []


def test_cache_control_reaches_anthropic_through_chat_completions(gw):
    breakpoint_ = {"type": "ephemeral", "ttl": "1h"}
    body = {
        "model": "anthropic/claude-haiku-4-5",
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "A long manual", "cache_control": breakpoint_}
                ],
            },
            {"role": "user", "content": "Question?", "cache_control": {"type": "ephemeral"}},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "lookup", "parameters": {"type": "object"}},
                "cache_control": {"type": "ephemeral"},
            }
        ],
    }
    assert _post(gw, body).status_code == 200
    sent = gw.upstreams["anthropic"].last_request.json
    assert sent["system"] == [
        {"type": "text", "text": "A long manual", "cache_control": breakpoint_}
    ]
    assert sent["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert sent["tools"][0]["cache_control"] == {"type": "ephemeral"}
