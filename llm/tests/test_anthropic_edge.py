"""The Anthropic Messages edge, pure: a Messages request as the internal chat shape (and its
native copy), a chat.completion as a message, OpenAI chunks as Anthropic's event sequence."""

import orjson
import pytest

from llm.providers.anthropic_inbound import NATIVE_KEY, InboundError, messages_to_chat
from llm.providers.anthropic_outbound import EventWriter, completion_to_message

IMAGE = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def test_images_tool_results_and_choice_translate():
    chat = messages_to_chat(
        {
            "model": "gpt-4o-mini",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image", "source": IMAGE},
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "tool_use", "id": "t1", "name": "look", "input": {"q": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "after"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": "bad",
                            "is_error": True,
                        },
                    ],
                },
            ],
            "tools": [
                {"name": "look", "input_schema": {"type": "object"}},
                {"type": "web_search_20250305", "name": "web_search"},
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "metadata": {"user_id": "u", "task": "code"},
        }
    )
    user, assistant, tool, after = chat["messages"]
    assert user["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }
    assert user["content"][2]["image_url"]["url"] == "https://x/y.png"
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "look", "arguments": '{"q": 1}'}}
        ],
    }
    assert tool == {"role": "tool", "tool_call_id": "t1", "content": "Error: bad"}
    assert after == {"role": "user", "content": [{"type": "text", "text": "after"}]}
    assert [t["function"]["name"] for t in chat["tools"]] == ["look"]  # server tools: native only
    assert (chat["tool_choice"], chat["parallel_tool_calls"]) == ("required", False)
    assert (chat["user"], chat["metadata"]) == ("u", {"task": "code"})
    native = chat[NATIVE_KEY]
    assert native["metadata"] == {"user_id": "u"}  # Tollgate's hints are not Anthropic's
    assert len(native["tools"]) == 2 and "model" not in native


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [], "max_tokens": 1}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"messages": [{"role": "system", "content": "x"}], "max_tokens": 1}, "messages"),
        (
            {"messages": [{"role": "user", "content": [{"type": "audio"}]}], "max_tokens": 1},
            "messages",
        ),
    ],
)
def test_malformed_requests_name_the_field(body, param):
    with pytest.raises(InboundError) as caught:
        messages_to_chat({"model": "m", **body})
    assert caught.value.param == param


def test_completion_becomes_a_message_with_tool_use_and_usage():
    message = completion_to_message(
        {
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "message": {
                        "content": "Let me look.",
                        "tool_calls": [
                            {"id": "c1", "function": {"name": "look", "arguments": '{"q": 2}'}}
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 20},
            },
        },
        request_id="abc",
    )
    assert message["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "c1", "name": "look", "input": {"q": 2}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 50,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 30,
        "output_tokens": 9,
    }


def _events(data: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in data.split(b"\n") if line.startswith(b"data: ")]


def test_writer_turns_chunks_into_the_event_sequence():
    writer = EventWriter(request_id="r")
    out = b""
    for delta in (
        {"role": "assistant", "content": "Hi"},
        {"content": " there"},
        {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
    ):
        out += writer.chunk({"model": "m", "choices": [{"index": 0, "delta": delta}]})
    out += writer.chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    out += writer.chunk({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
    out += writer.done()
    events = _events(out)
    assert [e["type"] for e in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[6]["content_block"] == {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
    assert events[6]["index"] == 1
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["input_tokens"] == 7 and events[-2]["usage"]["output_tokens"] == 3


def test_writer_passes_an_error_chunk_as_an_error_event():
    writer = EventWriter(request_id="r")
    writer.chunk({"model": "m", "choices": [{"index": 0, "delta": {"content": "a"}}]})
    [event] = _events(writer.chunk({"error": {"message": "cut", "type": "upstream_error"}}))
    assert event == {"type": "error", "error": {"type": "api_error", "message": "cut"}}
    assert writer.done() == b""
