"""Anthropic Messages adapter against recorded wire fixtures (Anthropic API reference)."""

import json

import pytest

from llm.providers.anthropic_messages import (
    JSON_OBJECT_INSTRUCTION,
    AnthropicMessagesAdapter,
)
from llm.providers.contract import ProviderError
from llm.tests import wire_support
from llm.tests.wire_support import assemble, feed, split_sizes

WIRE = wire_support.WIRE / "anthropic"
adapter = AnthropicMessagesAdapter()


def raw(name: str) -> bytes:
    return (WIRE / name).read_bytes()


def load(name: str):
    return json.loads(raw(name))


def build(body, *, stream=False, api_key="sk-ant-platform", auth_style="x_api_key"):
    return adapter.build_request(
        body=body,
        model_id="claude-sonnet-4-5",
        base_url="https://api.anthropic.com",
        api_key=api_key,
        auth_style=auth_style,
        stream=stream,
    )


CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather here and there?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/map.png"}},
        ],
    },
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location": "Berlin"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C sunny"},
    {"role": "tool", "tool_call_id": "call_2", "content": "12C rain"},
    {"role": "user", "content": "Thanks. Which is warmer?"},
]


def test_build_request_translates_system_images_tools_and_results():
    request = build(
        {
            "messages": CONVERSATION,
            "max_completion_tokens": 300,
            "temperature": 1.6,
            "top_p": 0.9,
            "stop": "END",
            "user": "user-42",
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Current weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"location": {"type": "string"}},
                        },
                    },
                }
            ],
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "metadata": {"task": "x"},
            "base_url": "https://evil.example",
        }
    )
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-platform"
    assert request.headers["anthropic-version"] == "2023-06-01"
    payload = request.json
    assert payload["model"] == "claude-sonnet-4-5"
    assert payload["system"] == "You are terse.\n\nUse metric units."
    assert payload["max_tokens"] == 300
    assert payload["temperature"] == 1.0  # clamped to Anthropic's range
    assert "top_p" not in payload
    assert payload["stop_sequences"] == ["END"]
    assert payload["metadata"] == {"user_id": "user-42"}
    assert payload["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
        }
    ]
    assert payload["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "base_url" not in payload and "stream" not in payload
    messages = payload["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "Weather here and there?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/map.png"}},
    ]
    assert messages[1]["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}},
        {
            "type": "tool_use",
            "id": "call_2",
            "name": "get_weather",
            "input": {"location": "Berlin"},
        },
    ]
    # both results in the one user turn that follows, then the next user text
    assert messages[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_1",
            "content": [{"type": "text", "text": "18C sunny"}],
        },
        {
            "type": "tool_result",
            "tool_use_id": "call_2",
            "content": [{"type": "text", "text": "12C rain"}],
        },
        {"type": "text", "text": "Thanks. Which is warmer?"},
    ]


def test_build_request_defaults_and_stream():
    request = build({"messages": [{"role": "user", "content": "hi"}], "top_p": 0.5}, stream=True)
    assert request.json["max_tokens"] == 4096
    assert request.json["top_p"] == 0.5
    assert request.json["stream"] is True
    assert request.headers["Accept"] == "text/event-stream"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
    ],
)
def test_tool_choice(choice, expected):
    request = build(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": choice,
        }
    )
    assert request.json["tool_choice"] == expected
    assert request.json["tools"][0]["input_schema"] == {"type": "object", "properties": {}}


def test_json_modes():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    request = build(
        {
            "messages": [{"role": "user", "content": "give json"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema},
            },
        }
    )
    assert request.json["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    request = build(
        {
            "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "json"}],
            "response_format": {"type": "json_object"},
        }
    )
    assert request.json["system"] == f"S\n\n{JSON_OBJECT_INSTRUCTION}"
    assert "output_config" not in request.json


def test_key_styles_and_no_key():
    assert (
        "x-api-key"
        not in build({"messages": [{"role": "user", "content": "hi"}]}, api_key=None).headers
    )
    bearer = build({"messages": [{"role": "user", "content": "hi"}]}, auth_style="bearer")
    assert bearer.headers["Authorization"] == "Bearer sk-ant-platform"


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hi"}], "n": 2},
        {"messages": [{"role": "system", "content": "only system"}]},
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "not json"},
                        }
                    ],
                }
            ]
        },
    ],
)
def test_requests_this_format_cannot_express_are_bad_requests(body):
    with pytest.raises(ProviderError) as caught:
        build(body)
    assert caught.value.kind == "bad_request"


def test_parse_response_text_with_cache_usage():
    result = adapter.parse_response(payload=load("message.json"), model="claude-sonnet-4-5")
    assert result.body["object"] == "chat.completion"
    assert result.body["model"] == "claude-sonnet-4-5"
    choice = result.body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hello! How can I help you today?"}
    assert choice["finish_reason"] == "stop"
    # input counts every prompt token: 21 uncached + 1800 cache reads + 188 cache writes
    assert (result.usage.input_tokens, result.usage.output_tokens) == (2009, 12)
    assert result.usage.cached_tokens == 1800
    assert result.body["usage"]["prompt_tokens_details"]["cached_tokens"] == 1800


def test_parse_response_tool_use():
    result = adapter.parse_response(payload=load("message_tool_use.json"), model="m")
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the weather in San Francisco."
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "toolu_01A09q90qw90lq917835lq9"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {
        "location": "San Francisco, CA",
        "unit": "celsius",
    }


def test_parse_response_max_tokens_is_length():
    result = adapter.parse_response(payload=load("message_max_tokens.json"), model="m")
    assert result.body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("split", ["whole", "bytes", "random"])
def test_stream_text_in_any_split(split):
    data = raw("stream_text.sse")
    sizes = split_sizes(split, data, seed=11, most=30)
    parser = adapter.stream_parser(model="claude", request_id="rq")
    chunks = feed(parser, data, sizes)
    result = assemble(chunks)
    assert result["content"] == "Hello! Grüße 👋"
    assert result["roles"] == ["assistant"]
    assert result["finish_reason"] == "stop"
    assert parser.finished and parser.usage_complete
    assert (parser.usage.input_tokens, parser.usage.output_tokens, parser.usage.cached_tokens) == (
        125,
        15,
        100,
    )


def test_stream_tool_use():
    data = raw("stream_tool_use.sse")
    parser = adapter.stream_parser(model="claude", request_id="rq")
    result = assemble(feed(parser, data, [1] * len(data)))
    assert result["content"] == "Okay, let's check the weather for San Francisco, CA:"
    assert result["finish_reason"] == "tool_calls"
    call = result["tool_calls"][0]  # the tool_use block at index 1 is OpenAI tool call 0
    assert call["id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"location": "San Francisco, CA"}
    assert parser.usage.output_tokens == 89


def test_truncated_stream_keeps_input_usage_from_message_start():
    data = raw("stream_text.sse")
    parser = adapter.stream_parser(model="claude", request_id="rq")
    assemble(parser.feed(data[: data.index(b"event: content_block_stop")]))
    assert not parser.finished and not parser.usage_complete
    assert parser.usage.input_tokens == 125
    assert parser.usage.output_tokens >= 1


def test_stream_error_event_raises_overloaded_as_retryable_server_error():
    parser = adapter.stream_parser(model="claude", request_id="rq")
    with pytest.raises(ProviderError) as caught:
        parser.feed(raw("stream_error.sse"))
    assert (caught.value.kind, caught.value.retryable, caught.value.status) == ("server", True, 529)
    assert caught.value.usage.input_tokens == 125


def test_map_error_prompt_too_long_is_context_length():
    error = adapter.map_error(status=400, body=raw("error_prompt_too_long.json"), headers={})
    assert (error.kind, error.retryable) == ("context_length", True)


def test_map_error_overloaded_and_rate_limit_and_auth():
    overloaded = adapter.map_error(status=529, body=raw("error_overloaded.json"), headers={})
    assert (overloaded.kind, overloaded.retryable) == ("server", True)
    limited = adapter.map_error(
        status=429, body=raw("error_rate_limit.json"), headers={"retry-after": "20"}
    )
    assert (limited.kind, limited.retryable, limited.retry_after) == ("rate_limit", True, 20.0)
    auth = adapter.map_error(status=401, body=raw("error_auth.json"), headers={})
    assert (auth.kind, auth.retryable) == ("auth", True)
    bad = adapter.map_error(
        status=400,
        body=b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}',
        headers={},
    )
    assert (bad.kind, bad.retryable) == ("bad_request", False)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, raw("error_credit_balance.json")),
        (402, b'{"type":"error","error":{"type":"billing_error","message":"Out of credit."}}'),
    ],
)
def test_map_error_out_of_credit_is_quota_not_a_bad_request(status, body):
    error = adapter.map_error(status=status, body=body, headers={})
    assert (error.kind, error.retryable) == ("quota", True)


def test_non_function_tools_are_not_forwarded():
    request = build(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "custom", "custom": {"name": "x"}}],
            "tool_choice": "required",
        }
    )
    assert "tools" not in request.json and "tool_choice" not in request.json
