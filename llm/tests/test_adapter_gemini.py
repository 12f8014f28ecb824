"""Gemini generateContent adapter against recorded wire fixtures (Gemini API reference)."""

import json

import pytest

from llm.providers.contract import ProviderError
from llm.providers.gemini import THOUGHT_SIGNATURE_PLACEHOLDER, GeminiAdapter
from llm.tests import wire_support
from llm.tests.wire_support import assemble, feed, split_sizes

WIRE = wire_support.WIRE / "gemini"
adapter = GeminiAdapter()
BASE = "https://generativelanguage.googleapis.com/v1beta"


def raw(name: str) -> bytes:
    return (WIRE / name).read_bytes()


def load(name: str):
    return json.loads(raw(name))


def build(body, *, stream=False, api_key="AIzaPlatformKey123", model_id="gemini-2.5-flash"):
    return adapter.build_request(
        body=body,
        model_id=model_id,
        base_url=BASE,
        api_key=api_key,
        auth_style="x_goog_api_key",
        stream=stream,
    )


def test_urls_and_key_header_never_in_url():
    plain = build({"messages": [{"role": "user", "content": "hi"}]})
    assert plain.url == f"{BASE}/models/gemini-2.5-flash:generateContent"
    assert plain.headers["x-goog-api-key"] == "AIzaPlatformKey123"
    stream = build({"messages": [{"role": "user", "content": "hi"}]}, stream=True)
    assert stream.url == f"{BASE}/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert "AIza" not in stream.url
    odd = build({"messages": [{"role": "user", "content": "hi"}]}, model_id="models/x/../y?z")
    assert odd.url.startswith(f"{BASE}/models/x%2F..%2Fy%3Fz:")
    assert (
        "x-goog-api-key"
        not in build({"messages": [{"role": "user", "content": "hi"}]}, api_key=None).headers
    )


def test_build_request_translates_conversation_tools_and_config():
    request = build(
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0K"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"location": "Paris"}',
                            },
                        },
                        {
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": "{}"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 18}'},
                {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
                {"role": "assistant", "content": "18C at noon."},
                {"role": "user", "content": "Thanks"},
            ],
            "temperature": 0.4,
            "top_p": 0.8,
            "max_tokens": 256,
            "stop": ["END", "STOP"],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"location": {"type": "string"}},
                            "additionalProperties": False,
                        },
                    },
                },
                {"type": "function", "function": {"name": "get_time"}},
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "user": "u-1",
            "metadata": {"tags": ["a"]},
        }
    )
    payload = request.json
    assert payload["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert payload["generationConfig"] == {
        "temperature": 0.4,
        "topP": 0.8,
        "maxOutputTokens": 256,
        "stopSequences": ["END", "STOP"],
    }
    assert payload["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"location": {"type": "string"}},
                        "additionalProperties": False,
                    },
                },
                {"name": "get_time"},
            ]
        }
    ]
    assert payload["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert set(payload) == {
        "contents",
        "systemInstruction",
        "generationConfig",
        "tools",
        "toolConfig",
    }
    contents = payload["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert contents[0]["parts"] == [
        {"text": "Weather?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}},
    ]
    assert contents[1]["parts"] == [
        {
            "functionCall": {"name": "get_weather", "args": {"location": "Paris"}},
            "thoughtSignature": THOUGHT_SIGNATURE_PLACEHOLDER,
        },
        {"functionCall": {"name": "get_time", "args": {}}},
    ]
    # both answers in one user turn, named after the calls they answer
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
        {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}},
    ]
    assert contents[3]["parts"] == [{"text": "18C at noon."}]


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, {"responseMimeType": "application/json"}),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
        ),
    ],
)
def test_json_modes(response_format, expected):
    request = build(
        {"messages": [{"role": "user", "content": "json"}], "response_format": response_format}
    )
    assert request.json["generationConfig"] == expected


@pytest.mark.parametrize(
    ("choice", "mode"), [("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")]
)
def test_tool_choice_modes(choice, mode):
    request = build(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": choice,
        }
    )
    assert request.json["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hi"}], "n": 3},
        {"messages": [{"role": "tool", "tool_call_id": "unknown", "content": "x"}]},
        {"messages": []},
    ],
)
def test_requests_this_format_cannot_express_are_bad_requests(body):
    with pytest.raises(ProviderError) as caught:
        build(body)
    assert caught.value.kind == "bad_request"


def test_parse_response_with_cached_and_thinking_tokens():
    result = adapter.parse_response(payload=load("response.json"), model="gemini-2.5-flash")
    assert result.body["object"] == "chat.completion"
    assert result.body["model"] == "gemini-2.5-flash"
    assert result.body["id"] == "chatcmpl-kH4gabCdEfGhIjKlMnOpQr"
    choice = result.body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Paris is the capital of France."}
    assert choice["finish_reason"] == "stop"
    # thinking tokens are billed as output
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cached_tokens) == (
        4096,
        28,
        3500,
    )


def test_parse_response_function_calls():
    result = adapter.parse_response(payload=load("response_function_call.json"), model="m")
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"location": "Paris"},
        {"location": "Berlin"},
    ]
    assert len({c["id"] for c in calls}) == 2


@pytest.mark.parametrize(
    ("fixture", "finish"),
    [
        ("response_safety.json", "content_filter"),
        ("response_blocked_prompt.json", "content_filter"),
        ("response_max_tokens.json", "length"),
    ],
)
def test_parse_response_finish_reasons(fixture, finish):
    result = adapter.parse_response(payload=load(fixture), model="m")
    assert result.body["choices"][0]["finish_reason"] == finish


@pytest.mark.parametrize("split", ["whole", "bytes", "random"])
def test_stream_text_in_any_split(split):
    data = raw("stream_text.sse")
    sizes = split_sizes(split, data, seed=5, most=25)
    parser = adapter.stream_parser(model="gemini-2.5-flash", request_id="g1")
    chunks = feed(parser, data, sizes)
    result = assemble(chunks)
    assert result["content"] == "Why did the chicken cross the road? Über-fast 🐔"
    assert result["roles"] == ["assistant"]
    assert result["finish_reason"] == "stop"
    assert parser.finished and parser.usage_complete
    assert (parser.usage.input_tokens, parser.usage.output_tokens, parser.usage.cached_tokens) == (
        7,
        12,
        4,
    )


def test_stream_function_calls():
    data = raw("stream_function_call.sse")
    parser = adapter.stream_parser(model="m", request_id="g1")
    result = assemble(feed(parser, data, [1] * len(data)))
    assert result["finish_reason"] == "tool_calls"
    assert [result["tool_calls"][i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert json.loads(result["tool_calls"][1]["arguments"]) == {"tz": "Europe/Paris"}
    assert all(result["tool_calls"][i]["id"] for i in (0, 1))


def test_truncated_stream_keeps_cumulative_usage():
    data = raw("stream_text.sse")
    second_end = data.index(b"\r\n\r\n", data.index(b"\r\n\r\n") + 4) + 4
    parser = adapter.stream_parser(model="m", request_id="g1")
    text = assemble(parser.feed(data[:second_end]))["content"]
    assert not parser.finished and not parser.usage_complete
    assert parser.usage.input_tokens == 7
    # 9 tokens reported so far, but the text streamed is worth more: bill the larger
    assert parser.usage.output_tokens == max(9, (len(text) + 3) // 4) == 11


def test_stream_error_event_raises():
    parser = adapter.stream_parser(model="m", request_id="g1")
    with pytest.raises(ProviderError) as caught:
        parser.feed(raw("stream_error.sse"))
    assert (caught.value.kind, caught.value.retryable, caught.value.status) == ("server", True, 503)
    assert caught.value.usage.input_tokens == 7


def test_map_error_context_length():
    error = adapter.map_error(status=400, body=raw("error_context_length.json"), headers={})
    assert (error.kind, error.retryable) == ("context_length", True)


def test_map_error_invalid_key_400_is_auth():
    error = adapter.map_error(status=400, body=raw("error_api_key_invalid.json"), headers={})
    assert (error.kind, error.retryable) == ("auth", True)


def test_map_error_rate_limit_reads_retry_info():
    error = adapter.map_error(status=429, body=raw("error_rate_limit.json"), headers={})
    assert (error.kind, error.retryable, error.retry_after) == ("rate_limit", True, 46.0)
    header_wins = adapter.map_error(
        status=429,
        body=b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}',
        headers={"Retry-After": "3"},
    )
    assert header_wins.retry_after == 3.0


def test_map_error_unavailable_and_other_400():
    unavailable = adapter.map_error(status=503, body=raw("error_unavailable.json"), headers={})
    assert (unavailable.kind, unavailable.retryable) == ("server", True)
    bad = adapter.map_error(
        status=400,
        body=b'{"error": {"code": 400, "message": "Invalid value at contents[0]", "status": "INVALID_ARGUMENT"}}',
        headers={},
    )
    assert (bad.kind, bad.retryable) == ("bad_request", False)
    assert "Invalid value" in bad.message
