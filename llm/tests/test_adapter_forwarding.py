"""Adapters forward the client's messages and tools without copying them (a 30 kB prompt or a
40-turn conversation is not duplicated per attempt): so no adapter may change the body it was
given, or the next attempt of the same request (a fallback, another wire format) would send
something else."""

import copy

import orjson
import pytest

from llm.providers.registry import get_adapter

BODY = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "Be brief.", "cache_control": {"type": "ephemeral"}},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Berlin?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 11}'},
        {"role": "user", "content": "And Berlin?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ],
    "tool_choice": "auto",
    "response_format": {"type": "json_object"},
    "max_tokens": 64,
}


@pytest.mark.parametrize("wire_format", ["openai_chat", "anthropic_messages", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
def test_building_a_request_leaves_the_client_body_as_it_was(wire_format, stream):
    body = copy.deepcopy(BODY)
    adapter = get_adapter(wire_format, body=body)
    for _attempt in range(2):
        request = adapter.build_request(
            body=body,
            model_id="model-x",
            base_url="https://upstream.test/v1",
            api_key="k-1",
            auth_style="bearer",
            stream=stream,
        )
        orjson.dumps(request.json)
        assert body == BODY


def test_openai_forwards_the_fields_themselves_not_copies():
    body = copy.deepcopy(BODY)
    request = get_adapter("openai_chat").build_request(
        body=body,
        model_id="gpt-4o-mini",
        base_url="https://upstream.test/v1",
        api_key="k-1",
        auth_style="bearer",
        stream=True,
    )
    assert request.json["messages"] is body["messages"]
    assert request.json["tools"] is body["tools"]
    assert request.json["stream_options"] == {"include_usage": True}
    assert "stream_options" not in body and "stream" not in body
