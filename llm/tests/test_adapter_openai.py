"""OpenAI Chat Completions adapter against recorded wire fixtures (OpenAI API reference)."""

import json

import pytest

from llm.providers.contract import ProviderError
from llm.providers.openai_chat import OpenAIChatAdapter
from llm.tests import wire_support
from llm.tests.wire_support import assemble as assemble_chunks
from llm.tests.wire_support import feed, split_sizes

WIRE = wire_support.WIRE / "openai"
adapter = OpenAIChatAdapter()


def load(name: str):
    data = raw(name)
    return json.loads(data) if name.endswith(".json") else data


def raw(name: str) -> bytes:
    return (WIRE / name).read_bytes()


def assemble(chunks: list[dict]) -> dict:
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    return assemble_chunks(chunks)


BODY = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
    ],
    "temperature": 0.3,
    "max_tokens": 100,
    "stop": ["END"],
    "response_format": {"type": "json_object"},
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "auto",
    "user": "u-1",
    "metadata": {"task": "code"},
    "base_url": "https://evil.example",
    "extra_headers": {"Authorization": "Bearer stolen"},
    "stream": False,
}


def test_build_request_whitelists_fields_and_sets_url_and_key():
    request = adapter.build_request(
        body=BODY,
        model_id="gpt-4o-mini",
        base_url="https://api.openai.com/v1/",
        api_key="sk-platform",
        auth_style="bearer",
        stream=False,
    )
    assert request.method == "POST"
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-platform"
    assert request.json["model"] == "gpt-4o-mini"
    assert request.json["messages"] == BODY["messages"]
    for name in ("temperature", "max_tokens", "stop", "response_format", "tools", "tool_choice"):
        assert request.json[name] == BODY[name]
    for name in ("metadata", "base_url", "extra_headers", "stream", "stream_options"):
        assert name not in request.json


def test_build_request_stream_asks_for_usage_and_azure_key_header():
    request = adapter.build_request(
        body={"messages": [{"role": "user", "content": "hi"}], "stream_options": {"x": 1}},
        model_id="gpt-4o",
        base_url="https://res.openai.azure.com/openai/v1",
        api_key="azure-key",
        auth_style="api_key_header",
        stream=True,
    )
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}
    assert request.headers["api-key"] == "azure-key"
    assert "Authorization" not in request.headers


def test_build_request_without_key_sends_no_auth_header():
    request = adapter.build_request(
        body={"messages": [{"role": "user", "content": "hi"}]},
        model_id="llama3",
        base_url="http://127.0.0.1:11434/v1",
        api_key=None,
        auth_style="bearer",
        stream=False,
    )
    assert not {"Authorization", "api-key"} & set(request.headers)


def test_parse_response_reports_model_and_cached_usage():
    result = adapter.parse_response(payload=load("chat_completion.json"), model="gpt-4o-mini")
    assert result.body["object"] == "chat.completion"
    assert result.body["model"] == "gpt-4o-mini"
    assert result.body["choices"][0]["message"]["content"] == "The capital of France is Paris."
    assert result.body["choices"][0]["finish_reason"] == "stop"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (2006, 8)
    assert result.usage.cached_tokens == 1920
    assert result.body["usage"]["prompt_tokens_details"]["cached_tokens"] == 1920
    assert result.body["usage"]["total_tokens"] == 2014


def test_parse_response_tool_calls():
    result = adapter.parse_response(payload=load("chat_completion_tool_calls.json"), model="m")
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_weather"]
    assert json.loads(calls[1]["function"]["arguments"]) == {"location": "Berlin, Germany"}


def test_parse_response_without_choices_is_malformed():
    with pytest.raises(ProviderError) as caught:
        adapter.parse_response(payload={"id": "x"}, model="m")
    assert caught.value.kind == "malformed"


@pytest.mark.parametrize("split", ["whole", "bytes", "random"])
def test_stream_text_in_any_split(split):
    data = load("stream_text.sse")
    sizes = split_sizes(split, data, seed=7, most=40)
    parser = adapter.stream_parser(model="gpt-4o-mini", request_id="req1")
    chunks = feed(parser, data, sizes)
    result = assemble(chunks)
    assert result["content"] == "Hello! How can I help you today? 👋"
    assert result["roles"] == ["assistant"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert result["finish_reason"] == "stop"
    assert all(c["id"] == "chatcmpl-req1" and c["model"] == "gpt-4o-mini" for c in chunks)
    assert parser.finished and parser.usage_complete
    assert (parser.usage.input_tokens, parser.usage.output_tokens) == (19, 10)


def test_stream_tool_calls_keep_index_id_name_and_argument_fragments():
    parser = adapter.stream_parser(model="m", request_id="r")
    data = load("stream_tool_calls.sse")
    result = assemble(feed(parser, data, [1] * len(data)))
    assert result["finish_reason"] == "tool_calls"
    assert result["tool_calls"][0]["id"] == "call_9pT3xQwLm2Vb7Nk1"
    assert json.loads(result["tool_calls"][0]["arguments"]) == {"location": "Paris"}
    assert result["tool_calls"][1]["name"] == "get_weather"
    assert json.loads(result["tool_calls"][1]["arguments"]) == {"location": "Berlin"}
    assert parser.usage.cached_tokens == 64


def test_truncated_stream_estimates_output_and_is_not_finished():
    data = load("stream_text.sse")
    cut = data.index(b'"content": " help"')
    parser = adapter.stream_parser(model="m", request_id="r")
    text = assemble(parser.feed(data[:cut]))["content"]
    assert not parser.finished
    assert not parser.usage_complete
    assert parser.usage.output_tokens == (len(text) + 3) // 4 > 0


def test_stream_error_event_raises_with_usage_so_far():
    parser = adapter.stream_parser(model="m", request_id="r")
    with pytest.raises(ProviderError) as caught:
        parser.feed(load("stream_error.sse"))
    assert caught.value.kind == "server"
    assert caught.value.retryable
    assert caught.value.usage.output_tokens >= 1


def test_malformed_stream_event_raises_malformed():
    parser = adapter.stream_parser(model="m", request_id="r")
    with pytest.raises(ProviderError) as caught:
        parser.feed(b"data: {not json\n\n")
    assert caught.value.kind == "malformed"


def test_map_error_context_length():
    error = adapter.map_error(status=400, body=raw("error_context_length.json"), headers={})
    assert (error.kind, error.retryable, error.status) == ("context_length", True, 400)


def test_map_error_invalid_key_never_echoes_the_key():
    error = adapter.map_error(status=401, body=raw("error_invalid_key.json"), headers={})
    assert (error.kind, error.retryable) == ("auth", True)
    assert "Xk9Q" not in error.message
    assert "sk-proj-****" not in error.message
    assert "Incorrect API key" in error.message


def test_map_error_rate_limit_uses_retry_after_ms():
    error = adapter.map_error(
        status=429,
        body=raw("error_rate_limit.json"),
        headers={"retry-after-ms": "120", "Retry-After": "1"},
    )
    assert (error.kind, error.retryable, error.retry_after) == ("rate_limit", True, 0.12)


def test_map_error_insufficient_quota_is_quota_not_a_rate_limit():
    error = adapter.map_error(status=429, body=raw("error_insufficient_quota.json"), headers={})
    assert (error.kind, error.retryable) == ("quota", True)
    assert "exceeded your current quota" in error.message


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (500, "server", True),
        (503, "server", True),
        (408, "server", True),
        (404, "bad_request", False),
        (422, "bad_request", False),
        (403, "auth", True),
    ],
)
def test_map_error_by_status(status, kind, retryable):
    error = adapter.map_error(status=status, body=b'{"error": {"message": "x"}}', headers={})
    assert (error.kind, error.retryable) == (kind, retryable)


def test_map_error_unparseable_body_gives_status_only():
    error = adapter.map_error(
        status=502, body=b"<html>Bad gateway sk-live-123456</html>", headers={}
    )
    assert error.message == "upstream HTTP 502"
    assert error.kind == "server"
