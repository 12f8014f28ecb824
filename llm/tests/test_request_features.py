"""Request features: the token estimate, tools, images, JSON mode, complexity, and the bound on
the complexity scan."""

import json

import pytest

from llm.services import request_features
from llm.services.request_features import (
    COMPLEXITY_SCAN_MAX_CHARS,
    RequestFeatures,
    complexity_estimate,
    complexity_scan_text,
    request_features_from,
)


def test_features_of_a_plain_request():
    body = {
        "model": "auto",
        "messages": [
            {"role": "system", "content": "x" * 40},
            {"role": "user", "content": "y" * 41},
        ],
    }
    features = request_features_from(body=body)
    # ceil(81 / 4) + 2 messages * 4 + 3
    assert features == RequestFeatures(
        estimated_input_tokens=21 + 8 + 3,
        has_tools=False,
        has_images=False,
        json_mode=False,
        complexity="low",
        requested_max_tokens=None,
    )


def test_features_of_a_rich_request():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "abcd" * 10},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    {"type": "image_url", "image_url": {"url": "https://x/z.png", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
        "tools": tools,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s"}},
        "max_tokens": 300,
        "max_completion_tokens": 200,
    }
    features = request_features_from(body=body)
    assert features.has_tools and features.has_images and features.json_mode
    assert features.requested_max_tokens == 200
    chars = 40 + 3 + 2 + len(json.dumps([tools], separators=(",", ":")))
    assert features.estimated_input_tokens == -(-chars // 4) + 3 * 4 + 3 + 765 + 85


@pytest.mark.parametrize(
    "value", [805563580622401461469315072, "\udb36 lone surrogate", {1: "int key"}]
)
def test_tools_orjson_cannot_encode_are_sized_all_the_same(value):
    """Integers past 64 bits and lone surrogates reach here from bodies the stdlib parsed (the
    route preview's): they are sized by the stdlib encoder instead of failing the request."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"x": value}}}]
    features = request_features_from(
        body={"messages": [{"role": "user", "content": ""}], "tools": tools}
    )
    assert features.has_tools
    chars = len(json.dumps([tools], default=str, separators=(",", ":")))
    assert features.estimated_input_tokens == -(-chars // 4) + 4 + 3


def test_features_tolerate_malformed_bodies():
    features = request_features_from(
        body={"messages": "hi", "tools": [], "response_format": "json", "max_tokens": True}
    )
    assert features.estimated_input_tokens == 3
    assert not features.has_tools and not features.json_mode
    assert features.requested_max_tokens is None


@pytest.mark.parametrize(
    ("text", "tokens", "expected"),
    [
        ("hi", 5, "low"),
        ("What is the capital of France?", 10, "low"),
        ("Explain why the sky is blue", 10, "medium"),
        ("Write a python function that reverses a string", 12, "medium"),
        ("Prove that there are infinitely many primes", 12, "medium"),
        ("Prove step by step that sqrt(2) is irrational", 12, "high"),
        ("```python\ndef f(x):\n    return x\n```\nExplain why this has a bug", 30, "high"),
        ("Summarize this document.", 9000, "medium"),
        ("Summarize this document and compare it with the last one.", 9000, "high"),
    ],
)
def test_complexity(text, tokens, expected):
    assert complexity_estimate(text=text, input_tokens=tokens) == expected


def test_complexity_looks_at_the_last_user_message():
    body = {
        "messages": [
            {"role": "system", "content": "Think step by step and prove every claim rigorously."},
            {"role": "user", "content": "hello"},
        ]
    }
    assert request_features_from(body=body).complexity == "low"


def test_text_parts_count_as_joined_by_newlines():
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": t} for t in "abc"]}]}
    # len("a\nb\nc") = 5 characters: ceil(5 / 4) + 4 + 3
    assert request_features_from(body=body).estimated_input_tokens == 2 + 4 + 3


def test_features_tolerate_malformed_tool_calls():
    body = {
        "messages": [
            {"role": "assistant", "content": "ok", "tool_calls": 5},
            {"role": "assistant", "content": "ok", "tool_calls": "x" * 1000},
        ]
    }
    # "ok" twice: ceil(4 / 4) + 2 messages * 4 + 3
    assert request_features_from(body=body).estimated_input_tokens == 1 + 8 + 3


# --- the complexity scan is bounded (the event loop must not pay for a long prompt) ----------


def test_the_cue_scan_sees_a_bounded_slice_of_a_long_prompt(monkeypatch):
    seen: list[int] = []
    pattern = request_features._CUES

    class Spy:
        def finditer(self, text):
            seen.append(len(text))
            return pattern.finditer(text)

    monkeypatch.setattr(request_features, "_CUES", Spy())
    body = {"messages": [{"role": "user", "content": "why does this design work? " * 40_000}]}
    assert request_features_from(body=body).complexity == "high"  # the length alone gives 2
    assert seen and max(seen) <= COMPLEXITY_SCAN_MAX_CHARS


def test_a_long_prompt_is_judged_by_its_head_and_tail():
    filler = "lorem ipsum dolor sit amet " * 40_000  # ~1,000,000 characters, no cue
    instruction_first = "Prove it step by step.\n" + filler
    question_last = filler + "\nExplain why."
    cue_in_the_middle = filler + "Prove it step by step, and explain why." + filler
    assert complexity_estimate(text=instruction_first, input_tokens=10) == "high"
    assert complexity_estimate(text=question_last, input_tokens=10) == "medium"
    assert complexity_estimate(text=cue_in_the_middle, input_tokens=10) == "low"
    # within the bound nothing is left out
    short = "x " * 600 + "Explain why." + " y" * 600
    assert complexity_scan_text(short) == short
    assert complexity_estimate(text=short, input_tokens=10) == "medium"


def test_a_long_prompt_scans_the_same_as_its_slice():
    text = "```python\ndef f(): pass\n```\n" + "data " * 200_000 + "Why does f() return None?"
    sliced = complexity_scan_text(text)
    assert len(sliced) <= COMPLEXITY_SCAN_MAX_CHARS
    assert sliced.startswith("```python") and sliced.endswith("return None?")
    for tokens in (10, 2000, 9000):
        assert complexity_estimate(text=text, input_tokens=tokens) == complexity_estimate(
            text=sliced, input_tokens=tokens
        )
