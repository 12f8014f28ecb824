"""POST /v1/messages and /v1/messages/count_tokens with the official anthropic SDK as the
client: served natively to Anthropic models (the client's request reaches the upstream as
sent, its answer and events come back as sent), translated for OpenAI-format and Gemini models
(text, tools over several turns, stop reasons, usage, plain and streamed), through the same
pipeline as chat completions (metering, idempotency, budgets), errors in Anthropic's shape."""

import json
from decimal import Decimal

import anthropic
import httpx
import pytest

from tests.integration.conftest import cost, settle_events
from tests.support.mock_upstreams import Ok, ServerError

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _client(gw, **kwargs) -> anthropic.Anthropic:
    kwargs.setdefault("api_key", gw.secret)
    return anthropic.Anthropic(base_url=gw.url, max_retries=0, **kwargs)


def _post(gw, path, body, headers=None) -> httpx.Response:
    merged = {"x-api-key": gw.secret, "anthropic-version": "2023-06-01", **(headers or {})}
    return httpx.post(f"{gw.url}{path}", json=body, headers=merged, timeout=30)


def test_native_plain_passes_everything_through(gw):
    gw.upstreams["anthropic"].script(
        Ok(content="Bonjour", input_tokens=300, output_tokens=20, cached_tokens=100)
    )
    raw = _client(gw).messages.with_raw_response.create(
        model="claude-haiku-4-5",
        max_tokens=256,
        system=[{"type": "text", "text": "A long manual", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        metadata={"user_id": "user-7"},
        extra_body={"top_k": 5},
        stop_sequences=["END"],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].text == "Bonjour"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (200, 100)
    assert raw.headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"
    assert raw.headers["x-tollgate-provider"] == "anthropic"
    sent = gw.upstreams["anthropic"].last_request
    assert sent.headers["x-api-key"].startswith("sk-ant-platform")  # the platform key, not ours
    assert sent.json["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.json["top_k"] == 5
    assert sent.json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent.json["metadata"] == {"user_id": "user-7"}
    assert sent.json["stop_sequences"] == ["END"]
    assert sent.json["model"] == "claude-haiku-4-5"

    [event] = settle_events(1)
    assert event.status == "success"
    assert event.requested_model == "claude-haiku-4-5"
    assert (event.input_tokens, event.cached_tokens, event.output_tokens) == (300, 100, 20)
    assert event.cost_usd == cost("anthropic/claude-haiku-4-5", 300, 20, cached=100)


def test_native_stream_is_anthropics_own_event_sequence(gw):
    gw.upstreams["anthropic"].script(
        Ok(content="one two three", input_tokens=40, output_tokens=6),
        Ok(content="one two three", input_tokens=40, output_tokens=6),
    )
    body = {
        "model": "anthropic/claude-haiku-4-5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "Count"}],
    }
    raw = _post(gw, "/v1/messages", body)
    assert raw.headers["content-type"].startswith("text/event-stream")
    kinds = [
        line.removeprefix("event: ") for line in raw.text.splitlines() if line.startswith("event:")
    ]
    # The mock's own sequence, unchanged (no chunk of the OpenAI translation leaks in).
    assert kinds == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert "chat.completion" not in raw.text
    with _client(gw).messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "one two three"
    assert message.usage.output_tokens == 6
    events = settle_events(2)
    assert [(e.input_tokens, e.output_tokens) for e in events] == [(40, 6), (40, 6)]


def test_translated_for_an_openai_model_plain_and_streamed(gw):
    gw.upstreams["openai"].script(
        Ok(content="Hi from GPT", input_tokens=50, output_tokens=7, cached_tokens=10),
        Ok(content="streamed words here", input_tokens=30, output_tokens=3),
    )
    message = _client(gw).messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
        stop_sequences=["STOP"],
        metadata={"user_id": "u-1"},
    )
    assert message.content[0].text == "Hi from GPT"
    assert message.stop_reason == "end_turn"
    assert message.model == "gpt-4o-mini"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (40, 10)
    assert message.usage.output_tokens == 7
    sent = gw.upstreams["openai"].last_request.json
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (sent["stop"], sent["user"], sent["max_tokens"]) == (["STOP"], "u-1", 64)
    with _client(gw).messages.stream(
        model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": "Go"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "streamed words here"
    assert final.usage.output_tokens == 3
    assert final.usage.input_tokens == 30
    events = settle_events(2)
    assert [e.model for e in events] == ["openai/gpt-4o-mini"] * 2
    assert events[1].cost_usd == cost("openai/gpt-4o-mini", 30, 3)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_tools_over_several_turns_to_an_openai_model(gw, stream):
    gw.upstreams["openai"].script(
        Ok(tool_call={"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_9"}),
        Ok(content="It is sunny in Paris."),
    )
    client = _client(gw)
    turns = [{"role": "user", "content": "Weather in Paris?"}]
    first = _create(client, stream, model="gpt-4o-mini", tools=[WEATHER_TOOL], messages=turns)
    assert first.stop_reason == "tool_use"
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert (call.id, call.name, call.input) == ("call_9", "get_weather", {"city": "Paris"})
    turns += [
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_9", "content": "sunny, 24 C"},
                {"type": "text", "text": "And so?"},
            ],
        },
    ]
    second = _create(client, stream, model="gpt-4o-mini", tools=[WEATHER_TOOL], messages=turns)
    assert second.content[0].text == "It is sunny in Paris."
    sent = gw.upstreams["openai"].last_request.json
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assistant, tool, user = sent["messages"][1:]
    assert assistant["tool_calls"][0]["id"] == "call_9"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert tool == {"role": "tool", "tool_call_id": "call_9", "content": "sunny, 24 C"}
    assert user["content"] == [{"type": "text", "text": "And so?"}]


def _create(client, stream, **kwargs):
    if not stream:
        return client.messages.create(max_tokens=200, **kwargs)
    with client.messages.stream(max_tokens=200, **kwargs) as events:
        return events.get_final_message()


def test_tools_over_several_turns_through_chat_completions_to_anthropic(gw):
    gw.upstreams["anthropic"].script(
        Ok(tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "toolu_1"}),
        Ok(content="Cold in Oslo."),
    )
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": WEATHER_TOOL["input_schema"]},
        }
    ]
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    first = gw.client().chat.completions.create(
        model="anthropic/claude-haiku-4-5", messages=messages, tools=tools
    )
    [call] = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.id, json.loads(call.function.arguments)) == ("toolu_1", {"city": "Oslo"})
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "toolu_1", "content": "-5 C"},
    ]
    second = gw.client().chat.completions.create(
        model="anthropic/claude-haiku-4-5", messages=messages, tools=tools
    )
    assert second.choices[0].message.content == "Cold in Oslo."
    sent = gw.upstreams["anthropic"].last_request.json["messages"]
    assert sent[1]["content"][0] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {"city": "Oslo"},
    }
    assert sent[2]["content"][0]["type"] == "tool_result"
    assert sent[2]["content"][0]["tool_use_id"] == "toolu_1"


def test_translated_for_gemini(gw):
    gw.upstreams["google"].script(Ok(content="Gemini says hi", input_tokens=9, output_tokens=4))
    message = _client(gw).messages.create(
        model="gemini-2.5-flash", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.content[0].text == "Gemini says hi"
    assert message.usage.output_tokens == 4
    assert gw.upstreams["google"].last_request.json["generationConfig"]["maxOutputTokens"] == 50


def test_routing_hints_and_auto_apply(gw):
    gw.set_config(rules=[{"when": {"task": "code"}, "route": {"model": "google/gemini-2.5-flash"}}])
    response = _post(
        gw,
        "/v1/messages",
        {"model": "auto", "max_tokens": 20, "messages": [{"role": "user", "content": "x"}]},
        headers={"X-Tollgate-Task": "code"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-tollgate-model"] == "google/gemini-2.5-flash"
    assert response.json()["type"] == "message"


def test_bearer_authorization_works_too(gw):
    response = httpx.post(
        f"{gw.url}/v1/messages",
        json={
            "model": "gpt-4o-mini",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
        },
        headers={"Authorization": f"Bearer {gw.secret}"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["content"][0]["type"] == "text"


def test_errors_are_in_anthropics_shape(gw):
    with pytest.raises(anthropic.AuthenticationError) as caught:
        _client(gw, api_key="tg_wrong").messages.create(
            model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "authentication_error"
    missing = _post(
        gw, "/v1/messages", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": missing.json()["error"]["message"],
            "code": "invalid_request",  # the contract's code beside Anthropic's type
        },
    }
    assert "max_tokens" in missing.json()["error"]["message"]
    for upstream in gw.upstreams.values():
        upstream.script(*[ServerError(500)] * 4)
    with pytest.raises(anthropic.InternalServerError) as failed:
        _client(gw).messages.create(
            model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert failed.value.status_code == 502
    assert failed.value.body["error"]["type"] == "api_error"
    assert "gpt-4o-mini" in failed.value.body["error"]["message"]


def test_budget_refusal_is_a_billing_error(gw):
    from billing.models import Budget

    Budget.objects.create(
        tenant=gw.tenant, scope="tenant", period="daily", limit_usd=Decimal("0.000001")
    )
    response = _post(
        gw,
        "/v1/messages",
        {
            "model": "gpt-4o-mini",
            "max_tokens": 4000,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "billing_error"
    assert gw.upstreams["openai"].requests == []


def test_idempotent_retry_replays_the_same_message(gw):
    body = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    first = _post(gw, "/v1/messages", body, {"Idempotency-Key": "m-1"})
    second = _post(gw, "/v1/messages", body, {"Idempotency-Key": "m-1"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert len(gw.upstreams["openai"].requests) == 1
    assert len(settle_events(1)) == 1


def test_count_tokens_native_for_anthropic_and_estimated_for_others(gw):
    gw.upstreams["anthropic"].script(Ok(input_tokens=321))
    counted = _client(gw).messages.count_tokens(
        model="claude-haiku-4-5",
        system="Be brief.",
        messages=[{"role": "user", "content": "How many tokens is this?"}],
        tools=[WEATHER_TOOL],
    )
    assert counted.input_tokens == 321
    sent = gw.upstreams["anthropic"].last_request
    assert sent.path == "/v1/messages/count_tokens"
    assert set(sent.json) == {"model", "messages", "system", "tools"}
    estimated = _post(
        gw,
        "/v1/messages/count_tokens",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "word " * 100}]},
    )
    assert estimated.status_code == 200
    assert estimated.json()["estimated"] is True
    assert 100 <= estimated.json()["input_tokens"] <= 200
    assert gw.upstreams["openai"].requests == []
    assert settle_events(0) == []  # counting is not metered
