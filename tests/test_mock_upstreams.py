"""The mock upstreams speak each wire format: driven with httpx, the adapters and the openai SDK."""

import json

import httpx
import openai
import pytest

from llm.providers.contract import ProviderError
from llm.providers.registry import get_adapter
from llm.providers.wire_helpers import parse_json_body
from tests.support.mock_upstreams import (
    AuthError,
    ContextLengthExceeded,
    Malformed,
    MockUpstream,
    Ok,
    RateLimited,
    ServerError,
    Slow,
    TruncatedStream,
)

AUTH_STYLE = {
    "openai_chat": "bearer",
    "anthropic_messages": "x_api_key",
    "gemini": "x_goog_api_key",
}
KEY = {
    "openai_chat": "sk-test-0123456789abcdef",
    "anthropic_messages": "sk-ant-test-0123456789",
    "gemini": "AIzaTest0123456789abcdef",
}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@pytest.fixture(params=["openai_chat", "anthropic_messages", "gemini"])
def upstream(request) -> MockUpstream:
    return request.getfixturevalue(
        {
            "openai_chat": "openai_upstream",
            "anthropic_messages": "anthropic_upstream",
            "gemini": "gemini_upstream",
        }[request.param]
    )


# One client for the module: building an httpx client (TLS context) per request is slow.
CLIENT = httpx.Client(timeout=5)


def unkeyed_request(upstream: MockUpstream, *, stream: bool):
    """The adapter and its keyless request for model `m` to the mock, for the tests that send
    it themselves (to replay a stream into a parser, or to walk away mid-stream)."""
    adapter = get_adapter(upstream.wire_format)
    request = adapter.build_request(
        body={"messages": MESSAGES},
        model_id="m",
        base_url=upstream.base_url,
        api_key=None,
        auth_style="none",
        stream=stream,
    )
    return adapter, request


def send(upstream: MockUpstream, *, stream: bool, body: dict | None = None, timeout: float = 5):
    """Build with the adapter, send with httpx, return (status, result | error | chunks, parser)."""
    adapter = get_adapter(upstream.wire_format)
    request = adapter.build_request(
        body=body or {"messages": MESSAGES},
        model_id="test-model",
        base_url=upstream.base_url,
        api_key=KEY[upstream.wire_format],
        auth_style=AUTH_STYLE[upstream.wire_format],
        stream=stream,
    )
    options = {"headers": request.headers, "json": request.json, "timeout": timeout}
    if not stream:
        response = CLIENT.request(request.method, request.url, **options)
        if response.status_code >= 400:
            error = adapter.map_error(
                status=response.status_code, body=response.content, headers=response.headers
            )
            return response.status_code, error, None
        return 200, adapter.parse_response(payload=response.json(), model="test-model"), None
    parser = adapter.stream_parser(model="test-model", request_id="t1")
    chunks = []
    with CLIENT.stream(request.method, request.url, **options) as response:
        for data in response.iter_raw():
            chunks += parser.feed(data)
    return response.status_code, chunks, parser


def text_of(chunks) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_plain_round_trip_through_each_adapter(upstream):
    upstream.script(
        Ok(content="Bonjour tout le monde", input_tokens=30, output_tokens=4, cached_tokens=10)
    )
    status, result, _ = send(upstream, stream=False)
    assert status == 200
    assert result.body["choices"][0]["message"]["content"] == "Bonjour tout le monde"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cached_tokens) == (
        30,
        4,
        10,
    )
    recorded = upstream.last_request
    assert recorded.method == "POST" and not recorded.stream
    key_header = {
        "openai_chat": "authorization",
        "anthropic_messages": "x-api-key",
        "gemini": "x-goog-api-key",
    }[upstream.wire_format]
    assert KEY[upstream.wire_format] in recorded.headers[key_header]
    assert KEY[upstream.wire_format] not in recorded.path + json.dumps(recorded.query)


def test_stream_round_trip_through_each_adapter(upstream):
    upstream.script(
        Ok(content="one two three four", input_tokens=8, output_tokens=6, cached_tokens=2)
    )
    status, chunks, parser = send(upstream, stream=True)
    assert status == 200
    assert text_of(chunks) == "one two three four"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert parser.finished and parser.usage_complete
    assert (parser.usage.input_tokens, parser.usage.output_tokens, parser.usage.cached_tokens) == (
        8,
        6,
        2,
    )
    assert upstream.last_request.stream


def test_tool_call_plain_and_stream(upstream):
    call = {"name": "get_weather", "arguments": {"location": "Paris"}}
    upstream.script(Ok(tool_call=call), Ok(tool_call=call))
    _, result, _ = send(upstream, stream=False)
    message = result.body["choices"][0]["message"]
    assert result.body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"location": "Paris"}
    _, chunks, _ = send(upstream, stream=True)
    arguments = "".join(
        (tc.get("function") or {}).get("arguments") or ""
        for c in chunks
        for tc in c["choices"][0]["delta"].get("tool_calls") or ()
    )
    assert json.loads(arguments) == {"location": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("behaviour", "status", "kind"),
    [
        (RateLimited(retry_after=2), 429, "rate_limit"),
        (ServerError(), 500, "server"),
        (ServerError(status=503), 503, "server"),
        (ContextLengthExceeded(), 400, "context_length"),
        (AuthError(), 401, "auth"),
    ],
)
def test_error_shapes_map_to_provider_errors(upstream, behaviour, status, kind):
    upstream.script(behaviour)
    got_status, error, _ = send(upstream, stream=False)
    assert got_status == status
    assert isinstance(error, ProviderError)
    assert error.kind == kind
    assert error.retryable
    if kind == "rate_limit":
        assert error.retry_after == 2.0
    assert "0123456789" not in error.message


def test_anthropic_overloaded_529(anthropic_upstream):
    anthropic_upstream.script(ServerError(status=529))
    status, error, _ = send(anthropic_upstream, stream=False)
    assert status == 529 and error.kind == "server" and error.retryable
    assert "Overloaded" in error.message


def test_truncated_stream_closes_mid_body_with_usage_so_far(upstream):
    upstream.script(TruncatedStream(after_chunks=2, input_tokens=20, output_tokens=9))
    with pytest.raises(httpx.RemoteProtocolError):
        send(upstream, stream=True)
    # the parser still knows what it saw; replay to inspect it
    upstream.script(TruncatedStream(after_chunks=2, input_tokens=20, output_tokens=9))
    adapter, request = unkeyed_request(upstream, stream=True)
    parser = adapter.stream_parser(model="m", request_id="t")
    chunks = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        CLIENT.stream("POST", request.url, headers=request.headers, json=request.json) as response,
    ):
        for data in response.iter_raw():
            chunks += parser.feed(data)
    assert text_of(chunks) == "This answer"
    assert not parser.finished
    assert parser.usage.output_tokens >= 3
    expected_input = 0 if upstream.wire_format == "openai_chat" else 20  # OpenAI reports at the end
    assert parser.usage.input_tokens == expected_input


def test_malformed_plain_and_stream(upstream):
    upstream.script(Malformed(), Malformed())
    _, request = unkeyed_request(upstream, stream=False)
    response = CLIENT.post(request.url, headers=request.headers, json=request.json)
    assert response.status_code == 200
    with pytest.raises(ProviderError) as caught:
        parse_json_body(response.content)
    assert caught.value.kind == "malformed"
    with pytest.raises(ProviderError) as caught:
        send(upstream, stream=True)
    assert caught.value.kind == "malformed"


def test_slow_response_times_out_then_next_request_is_ok(openai_upstream):
    openai_upstream.script(Slow(delay=0.6))
    with pytest.raises(httpx.ReadTimeout):
        send(openai_upstream, stream=False, timeout=0.2)
    status, result, _ = send(openai_upstream, stream=False)
    assert status == 200 and result.body["choices"][0]["message"]["content"] == "Hello from mock"


def test_script_order_reset_and_unknown_paths(openai_upstream):
    openai_upstream.script(ServerError(), Ok(content="second"))
    assert send(openai_upstream, stream=False)[0] == 500
    assert (
        send(openai_upstream, stream=False)[1].body["choices"][0]["message"]["content"] == "second"
    )
    assert len(openai_upstream.requests) == 2
    openai_upstream.script(ServerError())
    openai_upstream.reset()
    assert openai_upstream.requests == []
    assert send(openai_upstream, stream=False)[0] == 200
    response = CLIENT.post(openai_upstream.base_url + "/completions", json={})
    assert response.status_code == 404 and "error" in response.json()


def test_openai_stream_usage_chunk_only_when_asked(openai_upstream):
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    plain = CLIENT.post(openai_upstream.base_url + "/chat/completions", json=body).text
    asked = CLIENT.post(
        openai_upstream.base_url + "/chat/completions",
        json={**body, "stream_options": {"include_usage": True}},
    ).text
    assert plain.endswith("data: [DONE]\n\n") and '"usage"' not in plain
    frames = [line[6:] for line in asked.split("\n\n") if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    usage_chunk = json.loads(frames[-2])
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["prompt_tokens"] == 12
    assert json.loads(frames[0])["usage"] is None


def test_anthropic_event_sequence_and_validation(anthropic_upstream):
    body = {
        "model": "claude",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }
    headers = {"anthropic-version": "2023-06-01"}
    text = CLIENT.post(
        anthropic_upstream.base_url + "/v1/messages", json=body, headers=headers
    ).text
    events = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert events == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    missing = CLIENT.post(
        anthropic_upstream.base_url + "/v1/messages",
        json={"model": "c", "messages": []},
        headers=headers,
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"


def test_gemini_stream_uses_crlf_and_requires_alt_sse(gemini_upstream):
    url = gemini_upstream.base_url + "/models/gemini-2.5-flash:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    response = CLIENT.post(url, params={"alt": "sse"}, json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.count("\r\n\r\n") == 3
    last = json.loads(response.text.strip().split("\r\n\r\n")[-1][6:])
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"]["candidatesTokenCount"] == 5
    assert CLIENT.post(url, json=body).status_code == 400
    assert gemini_upstream.requests[0].query == {"alt": "sse"}


def test_openai_sdk_against_the_mock(openai_upstream):
    client = openai.OpenAI(
        base_url=openai_upstream.base_url, api_key="sk-sdk-test-key-0000", max_retries=0
    )
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello from mock"
    assert completion.usage.prompt_tokens == 12
    assert openai_upstream.last_request.headers["authorization"] == "Bearer sk-sdk-test-key-0000"

    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from mock"
    )
    assert chunks[-1].usage.completion_tokens == 5

    openai_upstream.script(Ok(tool_call={"name": "lookup", "arguments": {"q": "x"}}))
    tool = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert tool.choices[0].message.tool_calls[0].function.name == "lookup"

    openai_upstream.script(RateLimited(retry_after=1))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    openai_upstream.script(AuthError())
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "sk-sdk-t" in str(caught.value)  # the real API echoes a partial key; adapters redact it


def test_mocks_refuse_fields_the_real_api_does_not_know(upstream):
    user = [{"role": "user", "content": "Hi"}]
    path, body = {
        "openai_chat": ("/chat/completions", {"model": "m", "messages": user}),
        "anthropic_messages": ("/v1/messages", {"model": "m", "max_tokens": 5, "messages": user}),
        "gemini": (
            "/models/m:generateContent",
            {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
        ),
    }[upstream.wire_format]
    headers = {"anthropic-version": "2023-06-01"}
    assert CLIENT.post(upstream.base_url + path, json=body, headers=headers).status_code == 200
    stray = CLIENT.post(
        upstream.base_url + path, json={**body, "x_tollgate_hint": 1}, headers=headers
    )
    assert stray.status_code == 400
    assert "x_tollgate_hint" in stray.text


def test_truncated_plain_body_and_client_disconnect_mid_stream(upstream):
    upstream.script(TruncatedStream())
    with pytest.raises(httpx.RemoteProtocolError):
        send(upstream, stream=False)
    # a client that walks away mid-stream does not break the server for the next request
    upstream.script(Ok(content="a b c d e f", chunk_delay=0.05))
    _, request = unkeyed_request(upstream, stream=True)
    with (
        httpx.Client() as client,
        client.stream("POST", request.url, headers=request.headers, json=request.json) as response,
    ):
        next(response.iter_raw())
    status, result, _ = send(upstream, stream=False)
    assert status == 200 and result.body["choices"][0]["message"]["content"] == "Hello from mock"
