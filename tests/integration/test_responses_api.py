"""POST /v1/responses with the official openai SDK as the client: served natively to OpenAI
models (the client's request reaches the upstream's /responses as sent, its answer and events
come back as sent, stored state included), translated for Anthropic and Gemini models (text,
function tools over two turns, plain and streamed), through the same pipeline as chat
completions (metering of every token class, idempotency, model access), and a feature a
translated model cannot serve refused with 400 unsupported_feature naming it."""

import csv
import dataclasses
import io
import json
from decimal import Decimal

import httpx
import openai
import pytest
from django.utils import timezone

from tests.integration.conftest import cost, settle_events
from tests.support.mock_upstreams import Ok, ServerError, TruncatedStream

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def rgw(gw):
    """The gateway with OpenAI's provider speaking the Responses API (as the catalog says)."""
    from llm.models import Provider

    Provider.objects.filter(slug="openai").update(features={"responses_api": True})
    return gw


def _post(gw, body, headers=None) -> httpx.Response:
    merged = {"Authorization": f"Bearer {gw.secret}", **(headers or {})}
    return httpx.post(f"{gw.url}/v1/responses", json=body, headers=merged, timeout=30)


def test_native_plain_passes_through_with_store_and_previous_response(rgw):
    rgw.upstreams["openai"].script(
        Ok(content="Bonjour", input_tokens=400, cached_tokens=128, output_tokens=90,
           reasoning_tokens=64)
    )  # fmt: skip
    raw = rgw.client().responses.with_raw_response.create(
        model="gpt-4o-mini",
        instructions="Be brief.",
        input="Hi",
        store=True,
        previous_response_id="resp_earlier",
        reasoning={"effort": "low"},
        tools=[{"type": "web_search"}],
        include=["reasoning.encrypted_content"],
        metadata={"task": "chat", "team": "a"},
        user="end-user-1",
    )
    response = raw.parse()
    assert response.output_text == "Bonjour"
    assert response.id.startswith("resp_") and response.model.startswith("gpt-4o-mini")
    assert raw.headers["x-tollgate-provider"] == "openai"
    sent = rgw.upstreams["openai"].last_request
    assert sent.path == "/v1/responses"
    assert sent.headers["authorization"] == "Bearer sk-platform-openai-0123456789abcdef"
    assert sent.json["previous_response_id"] == "resp_earlier"
    assert (sent.json["store"], sent.json["tools"]) == (True, [{"type": "web_search"}])
    assert sent.json["reasoning"] == {"effort": "low"}
    assert sent.json["metadata"] == {"team": "a"}  # the routing hint stays with Tollgate
    assert response.usage.input_tokens_details.cached_tokens == 128
    assert response.usage.output_tokens_details.reasoning_tokens == 64

    [event] = settle_events(1)
    assert (event.model, event.status, event.end_user) == (
        "openai/gpt-4o-mini",
        "success",
        "end-user-1",
    )
    assert (event.input_tokens, event.cached_tokens, event.output_tokens) == (400, 128, 90)
    assert event.reasoning_tokens == 64
    assert event.cost_usd == cost("openai/gpt-4o-mini", 400, 90, cached=128)


def test_native_stream_is_openais_own_event_sequence(rgw):
    rgw.upstreams["openai"].script(
        Ok(content="one two three", input_tokens=40, output_tokens=6),
        Ok(content="one two three", input_tokens=40, output_tokens=6),
    )
    body = {"model": "gpt-4o-mini", "input": "Count", "stream": True}
    raw = _post(rgw, body)
    assert raw.headers["content-type"].startswith("text/event-stream")
    kinds = [line[7:] for line in raw.text.splitlines() if line.startswith("event: ")]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert "chat.completion" not in raw.text and "[DONE]" not in raw.text
    with rgw.client().responses.stream(model="gpt-4o-mini", input="Count") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == "one two three"
    assert final.usage.output_tokens == 6
    events = settle_events(2)
    assert [(e.input_tokens, e.output_tokens) for e in events] == [(40, 6), (40, 6)]


@pytest.mark.parametrize(
    ("model", "upstream"),
    [("anthropic/claude-haiku-4-5", "anthropic"), ("google/gemini-2.5-flash", "google")],
)
def test_translated_plain_and_streamed(rgw, model, upstream):
    rgw.upstreams[upstream].script(
        Ok(content="Hello there", input_tokens=50, output_tokens=7),
        Ok(content="streamed words here", input_tokens=30, output_tokens=3),
    )
    client = rgw.client()
    response = client.responses.create(
        model=model,
        instructions="Be brief.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Hello"}]}],
        max_output_tokens=64,
        temperature=0.5,
    )
    assert response.output_text == "Hello there"
    assert response.status == "completed" and response.model
    assert (response.usage.input_tokens, response.usage.output_tokens) == (50, 7)
    assert response.instructions == "Be brief." and response.max_output_tokens == 64
    with client.responses.stream(model=model, input="Go") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "streamed words here"
    assert final.output_text == "streamed words here"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 3)
    events = settle_events(2)
    assert [e.model for e in events] == [model, model]
    assert events[0].cost_usd == cost(model, 50, 7)
    assert events[1].cost_usd == cost(model, 30, 3)


def test_translated_function_tools_over_two_turns(rgw):
    anthropic = rgw.upstreams["anthropic"]
    anthropic.script(
        Ok(tool_call={"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_01"}),
        Ok(content="It is sunny in Paris."),
    )
    client = rgw.client()
    first = client.responses.create(
        model="anthropic/claude-haiku-4-5",
        input="Weather in Paris?",
        tools=[WEATHER],
        tool_choice="auto",
    )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert (call.name, call.call_id, call.arguments) == (
        "get_weather",
        "toolu_01",
        '{"city": "Paris"}',
    )
    sent = anthropic.last_request.json
    assert sent["tools"][0]["name"] == "get_weather"
    assert sent["tools"][0]["input_schema"] == WEATHER["parameters"]

    second = client.responses.create(
        model="anthropic/claude-haiku-4-5",
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name,
             "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24C"},
        ],
        tools=[WEATHER],
    )  # fmt: skip
    assert second.output_text == "It is sunny in Paris."
    turns = anthropic.last_request.json["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][-1] == {
        "type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"},
    }  # fmt: skip
    assert turns[2]["content"][0]["type"] == "tool_result"
    assert turns[2]["content"][0]["tool_use_id"] == "toolu_01"


def test_translated_stream_of_a_function_call(rgw):
    rgw.upstreams["google"].script(
        Ok(tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    )
    with rgw.client().responses.stream(
        model="google/gemini-2.5-flash", input="Weather in Oslo?", tools=[WEATHER]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-2:] == ["response.output_item.done", "response.completed"]
    [call] = final.output
    assert (call.type, call.name, call.arguments) == (
        "function_call",
        "get_weather",
        '{"city": "Oslo"}',
    )


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"background": True}, "background"),
    ],
)
def test_translated_model_refuses_what_it_cannot_serve(rgw, extra, param):
    with pytest.raises(openai.BadRequestError) as caught:
        rgw.client().responses.create(model="anthropic/claude-haiku-4-5", input="Hi", **extra)
    error = caught.value.body
    assert caught.value.status_code == 400
    assert (error["code"], error["param"]) == ("unsupported_feature", param)
    assert "anthropic/claude-haiku-4-5" in error["message"]
    assert rgw.upstreams["anthropic"].requests == []


def test_chat_only_openai_provider_is_translated(gw):
    """Without the catalog's `responses_api` an OpenAI-format provider gets chat completions."""
    gw.upstreams["openai"].script(Ok(content="via chat", input_tokens=20, output_tokens=4))
    response = gw.client().responses.create(
        model="gpt-4o-mini", input="Hi", max_output_tokens=32, user="u-9",
        reasoning={"effort": "low"},
    )  # fmt: skip
    assert response.output_text == "via chat"
    sent = gw.upstreams["openai"].last_request
    assert sent.path == "/v1/chat/completions"
    assert (sent.json["max_tokens"], sent.json["user"]) == (32, "u-9")
    assert sent.json["reasoning_effort"] == "low"


def test_idempotent_replay_and_model_access(rgw):
    rgw.upstreams["openai"].script(Ok(content="once", input_tokens=10, output_tokens=2))
    body = {"model": "gpt-4o-mini", "input": "Hi"}
    first = _post(rgw, body, {"Idempotency-Key": "resp-key-1"})
    again = _post(rgw, body, {"Idempotency-Key": "resp-key-1"})
    assert first.status_code == again.status_code == 200
    assert again.json()["output"] == first.json()["output"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(rgw.upstreams["openai"].requests) == 1
    rgw.key.allowed_models = ["anthropic/claude-haiku-4-5"]
    rgw.key.save()
    refused = _post(rgw, {"model": "gpt-4o-mini", "input": "Hi"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"


def test_bad_input_is_a_400_in_openais_shape(rgw):
    missing = _post(rgw, {"model": "gpt-4o-mini"})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "input"
    wrong = _post(rgw, {"model": "gpt-4o-mini", "input": 42})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["type"] == "invalid_request_error"


# The responses wire format's cost table: usage as OpenAI's /responses reports it (cached inside
# input_tokens, reasoning inside output_tokens), the cost worked out by hand from the prices in
# tests/integration/conftest.py (gpt-4.1: in 2.00, cached 0.50, out 8.00 per 1M).
# 12000 - 4096 = 7904 * 2.00 + 4096 * 0.50 + 3000 * 8.00 = 15808 + 2048 + 24000 = 41856
RESPONSES_CASE = Ok(
    input_tokens=12000, cached_tokens=4096, output_tokens=3000, reasoning_tokens=1200
)
RESPONSES_COST = Decimal("0.041856")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_cost_table_for_the_responses_wire_format(rgw, stream):
    rgw.upstreams["openai"].script(RESPONSES_CASE)
    body = {"model": "openai/gpt-4.1", "input": "Price me", "stream": stream}
    answer = _post(rgw, body)
    assert answer.status_code == 200, answer.text
    if stream:
        completed = [line for line in answer.text.splitlines() if "response.completed" in line]
        usage = json.loads(completed[-1].removeprefix("data: "))["response"]["usage"]
    else:
        usage = answer.json()["usage"]
        assert Decimal(answer.headers["x-tollgate-cost-usd"]) == RESPONSES_COST
    assert usage["input_tokens_details"]["cached_tokens"] == 4096
    assert usage["output_tokens_details"]["reasoning_tokens"] == 1200
    [event] = settle_events(1)
    assert (event.input_tokens, event.cached_tokens, event.output_tokens) == (12000, 4096, 3000)
    assert (event.reasoning_tokens, event.cache_write_tokens) == (1200, 0)
    assert event.cost_usd == RESPONSES_COST
    assert str(event.cost_usd) == f"{RESPONSES_COST:.10f}"  # to the last stored decimal place
    [row] = _export_rows(rgw.tenant)
    assert Decimal(row["cost_usd"]) == RESPONSES_COST
    assert (row["cached_tokens"], row["reasoning_tokens"]) == ("4096", "1200")


def _export_rows(tenant) -> list[dict]:
    from billing.services.exports import export_create, export_open

    month = timezone.now().astimezone(tenant.tzinfo).strftime("%Y-%m")
    export = export_create(tenant=tenant, month=month)
    with export_open(export=export) as handle:
        return list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8")))


def test_fallback_from_a_native_model_to_a_translated_one(rgw):
    rgw.upstreams["openai"].script(*[ServerError(503)] * 5)
    rgw.upstreams["anthropic"].script(Ok(content="from the fallback", input_tokens=9))
    raw = rgw.client().responses.with_raw_response.create(model="auto", input="Hi")
    assert raw.parse().output_text == "from the fallback"
    assert raw.headers["x-tollgate-fallback"] == "true"
    assert raw.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert rgw.upstreams["openai"].last_request.path == "/v1/responses"


def test_through_djangos_handler_too(rgw, django_handler_server):
    via_django = dataclasses.replace(rgw, url=django_handler_server)
    rgw.upstreams["anthropic"].script(Ok(content="via Django"))
    response = via_django.client().responses.create(model="claude-haiku-4-5", input="Hi")
    assert response.output_text == "via Django"


@pytest.mark.parametrize("upstream", ["openai", "anthropic"])
def test_a_stream_cut_short_ends_in_an_error_event_and_is_billed(rgw, upstream):
    model = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}[upstream]
    rgw.upstreams[upstream].script(TruncatedStream(after_chunks=2, input_tokens=12))
    raw = _post(rgw, {"model": model, "input": "Go", "stream": True})
    events = [line[7:] for line in raw.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "response.created" and events[-1] == "error"
    assert "response.completed" not in events
    [event] = settle_events(1)
    assert event.output_tokens > 0  # what was streamed before the cut is billed


def test_a_translated_candidate_is_skipped_for_a_native_one(rgw):
    """A config whose primary is translated serves stored state from its native fallback; when
    the native one fails too, the answer says why the translated one was not tried."""
    rgw.set_config(
        primary_model="anthropic/claude-haiku-4-5", fallback_models=["openai/gpt-4o-mini"]
    )
    rgw.upstreams["openai"].script(Ok(content="remembered"), *[ServerError(500)] * 5)
    body = {"model": "auto", "input": "And then?", "previous_response_id": "resp_1"}
    served = _post(rgw, body)
    assert served.status_code == 200, served.text
    assert served.json()["output"][0]["content"][0]["text"] == "remembered"
    assert served.headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    failed = _post(rgw, body)
    assert failed.status_code == 502
    assert "previous_response_id" in failed.json()["error"]["message"]
    assert rgw.upstreams["anthropic"].requests == []
