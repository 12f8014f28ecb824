"""The reasoning mapping (llm/providers/reasoning.py) in each direction, and the adapters that
apply it: chat effort -> Anthropic thinking budget (capped by max_tokens, refused below the
minimum) and Gemini thinkingBudget; Anthropic thinking -> effort; thinking content back as
`reasoning_content` from Anthropic and Gemini answers and streams."""

import pytest

from llm.providers.anthropic_inbound import messages_to_chat
from llm.providers.anthropic_messages import AnthropicMessagesAdapter
from llm.providers.contract import ProviderError
from llm.providers.gemini import GeminiAdapter
from llm.providers.reasoning import (
    anthropic_thinking,
    effort_from_thinking,
    gemini_thinking_config,
)

ARGS = {"base_url": "https://x.example", "api_key": "k", "stream": False}


@pytest.mark.parametrize(
    ("effort", "max_tokens", "expected"),
    [
        ("minimal", 4096, {"type": "enabled", "budget_tokens": 1024}),
        ("low", 4096, {"type": "enabled", "budget_tokens": 2048}),
        ("medium", 4096, {"type": "enabled", "budget_tokens": 4095}),  # capped by max_tokens
        ("high", 64000, {"type": "enabled", "budget_tokens": 24576}),
        ("none", 4096, {"type": "disabled"}),
    ],
)
def test_effort_to_anthropic_budget(effort, max_tokens, expected):
    assert anthropic_thinking({"reasoning_effort": effort}, max_tokens=max_tokens) == expected


def test_effort_without_room_for_thinking_is_refused():
    with pytest.raises(ProviderError) as caught:
        anthropic_thinking({"reasoning_effort": "low"}, max_tokens=800)
    assert caught.value.kind == "bad_request" and "max_tokens" in caught.value.message
    with pytest.raises(ProviderError):
        anthropic_thinking({"reasoning_effort": "extreme"}, max_tokens=8000)


@pytest.mark.parametrize(
    ("effort", "budget"), [("none", 0), ("minimal", 512), ("low", 1024), ("high", 24576)]
)
def test_effort_to_gemini_budget(effort, budget):
    config = gemini_thinking_config({"reasoning_effort": effort})
    assert config["thinkingBudget"] == budget
    assert config.get("includeThoughts", False) is (effort != "none")
    assert gemini_thinking_config({}) is None


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, "low"),
        ({"type": "enabled", "budget_tokens": 2048}, "low"),
        ({"type": "enabled", "budget_tokens": 5000}, "medium"),
        ({"type": "enabled", "budget_tokens": 30000}, "high"),
        ({"type": "disabled"}, "none"),
        (None, None),
    ],
)
def test_anthropic_thinking_to_effort(thinking, effort):
    assert effort_from_thinking(thinking) == effort


def test_messages_thinking_sets_the_chat_effort():
    chat = messages_to_chat(
        {
            "model": "o4-mini",
            "max_tokens": 9000,
            "thinking": {"type": "enabled", "budget_tokens": 8000},
            "messages": [{"role": "user", "content": "Hi"}],
        }
    )
    assert chat["reasoning_effort"] == "medium"


def test_anthropic_adapter_sends_thinking_and_reads_it_back():
    adapter = AnthropicMessagesAdapter()
    body = {
        "messages": [{"role": "user", "content": "Hi"}],
        "reasoning_effort": "low",
        "max_tokens": 5000,
        "top_p": 0.5,
    }
    request = adapter.build_request(body=body, model_id="claude", auth_style="x_api_key", **ARGS)
    assert request.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "top_p" not in request.json
    answer = {
        "id": "m",
        "content": [
            {"type": "thinking", "thinking": "Let me see.", "signature": "s"},
            {"type": "text", "text": "Yes"},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 9},
    }
    message = adapter.parse_response(payload=answer, model="claude").body["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("Yes", "Let me see.")
    parser = adapter.stream_parser(model="claude", request_id="r")
    event = (
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
        b'"delta": {"type": "thinking_delta", "thinking": "Hmm"}}\n\n'
    )
    [chunk] = parser.feed(event)
    assert chunk["choices"][0]["delta"]["reasoning_content"] == "Hmm"


def test_gemini_adapter_sends_thinking_config_and_reads_thoughts():
    adapter = GeminiAdapter()
    body = {"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "medium"}
    request = adapter.build_request(
        body=body, model_id="gemini-2.5-flash", auth_style="x_goog_api_key", **ARGS
    )
    assert request.json["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 8192,
        "includeThoughts": True,
    }
    answer = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Pondering", "thought": True}, {"text": "42"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 4,
            "candidatesTokenCount": 1,
            "thoughtsTokenCount": 7,
        },
    }
    result = adapter.parse_response(payload=answer, model="gemini-2.5-flash")
    message = result.body["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("42", "Pondering")
    assert (result.usage.output_tokens, result.usage.reasoning_tokens) == (8, 7)
