"""Anthropic `cache_control` markers taken out of a chat body for strict OpenAI-format vendors,
without touching the client's body (llm/providers/cache_markers.py)."""

import copy

from llm.providers.cache_markers import has_cache_control, without_cache_control

MARK = {"type": "ephemeral"}


def test_markers_on_parts_messages_and_tools_are_removed():
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "S", "cache_control": MARK}]},
            {"role": "user", "content": "Q", "cache_control": MARK},
            {"role": "user", "content": [{"type": "text", "text": "plain"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": MARK}],
    }
    original = copy.deepcopy(body)
    stripped = without_cache_control(body)
    assert not has_cache_control(stripped)
    assert stripped["messages"] == [
        {"role": "system", "content": [{"type": "text", "text": "S"}]},
        {"role": "user", "content": "Q"},
        {"role": "user", "content": [{"type": "text", "text": "plain"}]},
    ]
    assert stripped["tools"] == [{"type": "function", "function": {"name": "f"}}]
    assert body == original  # the client's body is never changed


def test_a_body_without_markers_is_passed_as_it_is():
    body = {"messages": [{"role": "user", "content": "Hi"}]}
    assert without_cache_control(body) is body
