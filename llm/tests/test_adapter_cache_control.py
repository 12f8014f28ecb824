"""Prompt-cache breakpoints (`cache_control`) in an OpenAI-shaped request reach Anthropic on
system blocks, message parts, whole messages and tools; Gemini, which has no breakpoints, gets
the same request without them."""

from llm.providers.anthropic_messages import JSON_OBJECT_INSTRUCTION, AnthropicMessagesAdapter
from llm.providers.gemini import GeminiAdapter

EPHEMERAL = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}
BODY = {
    "messages": [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "You are terse."},
                {"type": "text", "text": "A long manual...", "cache_control": ONE_HOUR},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "text", "text": "The document", "cache_control": EPHEMERAL}],
        },
        {"role": "assistant", "content": "Read it."},
        {"role": "user", "content": "Summarise it.", "cache_control": EPHEMERAL},
    ],
    "tools": [
        {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
        {
            "type": "function",
            "function": {"name": "b", "parameters": {"type": "object"}},
            "cache_control": EPHEMERAL,
        },
    ],
}


def _anthropic(body):
    return (
        AnthropicMessagesAdapter()
        .build_request(
            body=body,
            model_id="claude-haiku-4-5",
            base_url="https://api.anthropic.com",
            api_key="sk-ant-x",
            auth_style="x_api_key",
            stream=False,
        )
        .json
    )


def test_breakpoints_reach_anthropic():
    payload = _anthropic(BODY)
    assert payload["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "A long manual...", "cache_control": ONE_HOUR},
    ]
    first, _, last = payload["messages"]
    assert first["content"] == [
        {"type": "text", "text": "The document", "cache_control": EPHEMERAL}
    ]
    assert last["content"] == [
        {"type": "text", "text": "Summarise it.", "cache_control": EPHEMERAL}
    ]
    assert [tool.get("cache_control") for tool in payload["tools"]] == [None, EPHEMERAL]


def test_json_mode_instruction_is_one_more_system_block_beside_breakpoints():
    payload = _anthropic({**BODY, "response_format": {"type": "json_object"}})
    assert payload["system"][-1] == {"type": "text", "text": JSON_OBJECT_INSTRUCTION}
    assert payload["system"][1]["cache_control"] == ONE_HOUR


def test_without_breakpoints_the_system_stays_one_string():
    body = {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    }
    assert _anthropic(body)["system"] == "Be brief."


def test_gemini_gets_no_breakpoints():
    payload = (
        GeminiAdapter()
        .build_request(
            body=BODY,
            model_id="gemini-2.5-flash",
            base_url="https://generativelanguage.googleapis.com/v1beta",
            api_key="AIza-x",
            auth_style="x_goog_api_key",
            stream=False,
        )
        .json
    )
    assert "cache_control" not in str(payload)
