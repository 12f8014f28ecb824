"""The Responses edge, pure: a Responses request as the chat body (items, tools, options, what
only a native model serves), a chat.completion as a `response`, chat chunks as the Responses
event sequence, and OpenAI's own /responses answers and events read back for metering."""

import json

import orjson
import pytest

from llm.providers.openai_responses import OpenAIResponsesAdapter, usage_from_responses
from llm.providers.responses_events import ResponsesEventWriter
from llm.providers.responses_inbound import (
    NATIVE_KEY,
    InboundError,
    native_only_feature,
    responses_to_chat,
)
from llm.providers.responses_outbound import completion_to_response


def test_input_items_become_chat_messages():
    chat = responses_to_chat(
        {
            "model": "claude-haiku-4-5",
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": [
                    {"type": "input_text", "text": "Look"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAA",
                     "detail": "low"},
                ]},
                {"type": "message", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Calling"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": {"a": 1}},
                {"type": "function_call_output", "call_id": "c1", "output": "one"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
            ],
            "max_output_tokens": 50,
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
            "reasoning": {"effort": "high"},
            "metadata": {"task": "code"},
        }
    )  # fmt: skip
    system, user, assistant, tool = chat["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    assert user["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAA", "detail": "low"},
    }
    assert assistant["content"] == "Calling"
    assert [c["id"] for c in assistant["tool_calls"]] == ["c1", "c2"]
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"a": 1}
    assert tool == {"role": "tool", "tool_call_id": "c1", "content": "one"}
    assert (chat["max_tokens"], chat["reasoning_effort"]) == (50, "high")
    assert chat["response_format"]["json_schema"]["name"] == "x"
    assert chat["metadata"] == {"task": "code"}
    assert "metadata" not in chat[NATIVE_KEY]  # the hint is Tollgate's, not OpenAI's
    assert native_only_feature(chat) is None


def test_function_tools_translate_and_built_in_tools_need_a_native_model():
    chat = responses_to_chat(
        {
            "model": "m",
            "input": "Hi",
            "tools": [
                {"type": "function", "name": "f", "parameters": {"type": "object"}},
                {"type": "file_search", "vector_store_ids": ["vs_1"]},
            ],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
        }
    )
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["parallel_tool_calls"] is False
    feature, param = native_only_feature(chat)
    assert ("file_search" in feature, param) == (True, "tools[1]")


@pytest.mark.parametrize(
    ("body", "message"),
    [({"model": "m"}, "input"), ({"model": "m", "input": 3}, "input"),
     ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "role")],
)  # fmt: skip
def test_malformed_requests_name_the_field(body, message):
    with pytest.raises(InboundError) as caught:
        responses_to_chat(body)
    assert message in caught.value.message


def test_completion_becomes_a_response_with_items_and_usage():
    completion = {
        "model": "claude-haiku-4-5",
        "created": 1700000000,
        "choices": [
            {
                "message": {
                    "content": "Done",
                    "reasoning_content": "Hmm",
                    "tool_calls": [
                        {"id": "t1", "function": {"name": "f", "arguments": '{"x": 1}'}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
    }
    response = completion_to_response(
        completion, request_id="abc", request={"instructions": "I", "max_output_tokens": 99}
    )
    assert [item["type"] for item in response["output"]] == [
        "reasoning",
        "message",
        "function_call",
    ]
    assert response["output"][2]["call_id"] == "t1"
    assert response["usage"] == {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 10},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 12},
        "total_tokens": 130,
    }
    assert (response["id"], response["status"], response["instructions"]) == (
        "resp_abc",
        "completed",
        "I",
    )
    assert response["max_output_tokens"] == 99


def _events(data: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in data.split(b"\n") if line.startswith(b"data: ")]


def test_chat_chunks_become_the_responses_event_sequence():
    writer = ResponsesEventWriter(request_id="r1", request={})

    def chunk(delta, finish=None):
        return {"model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = writer.chunk(chunk({"role": "assistant", "content": "Hel"}))
    out += writer.chunk(chunk({"content": "lo"}))
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a"'}}
    out += writer.chunk(chunk({"tool_calls": [call]}))
    out += writer.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}))
    out += writer.chunk(chunk({}, "tool_calls"))
    out += writer.chunk({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    out += writer.done()
    events = _events(out)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["output"][1]["arguments"] == '{"a": 1}'
    assert final["usage"]["total_tokens"] == 7


def test_length_finish_is_an_incomplete_response():
    writer = ResponsesEventWriter(request_id="r2", request={})
    writer.chunk({"model": "m", "choices": [{"delta": {"content": "cut"}, "finish_reason": None}]})
    writer.chunk({"model": "m", "choices": [{"delta": {}, "finish_reason": "length"}]})
    [last] = _events(writer.done())[-1:]
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_native_answer_is_read_for_metering_and_kept_for_the_client():
    payload = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "output": [
            {"type": "reasoning", "id": "rs", "summary": []},
            {"type": "function_call", "call_id": "c9", "name": "f", "arguments": "{}"},
        ],
        "usage": {
            "input_tokens": 900,
            "input_tokens_details": {"cached_tokens": 100},
            "output_tokens": 80,
            "output_tokens_details": {"reasoning_tokens": 50},
        },
    }
    result = OpenAIResponsesAdapter().parse_response(payload=payload, model="o4-mini")
    assert result.body["choices"][0]["finish_reason"] == "tool_calls"
    assert result.body["choices"][0]["message"]["tool_calls"][0]["id"] == "c9"
    assert (result.usage.input_tokens, result.usage.cached_tokens) == (900, 100)
    assert (result.usage.output_tokens, result.usage.reasoning_tokens) == (80, 50)
    assert completion_to_response(result.body, request_id="x", request={}) == payload
    assert usage_from_responses(None).total_tokens == 0


def test_native_request_keeps_the_clients_fields():
    chat = responses_to_chat(
        {"model": "gpt-5", "input": "Hi", "store": True, "include": ["x"], "bogus": 1}
    )
    chat["temperature"] = 0.2  # a routing config's params
    request = OpenAIResponsesAdapter().build_request(
        body=chat,
        model_id="gpt-5",
        base_url="https://api.example/v1",
        api_key="sk-test",
        auth_style="bearer",
        stream=True,
    )
    assert request.url == "https://api.example/v1/responses"
    assert request.json == {
        "model": "gpt-5",
        "input": "Hi",
        "store": True,
        "include": ["x"],
        "temperature": 0.2,
        "stream": True,
    }
