"""Reasoning controls across the APIs, both directions: chat `reasoning_effort` and responses
`reasoning.effort` as Anthropic `thinking` budgets and Gemini `thinkingConfig`; Anthropic
`thinking` on /v1/messages as `reasoning_effort` for OpenAI reasoning models (and not for the
others). The thinking comes back in each API's own shape (chat `reasoning_content`, Anthropic
thinking blocks, a responses `reasoning` item with its summary), plain and streamed, and its
tokens are metered. Also: Anthropic `cache_control` markers stripped for strict OpenAI-format
vendors, kept for providers whose catalog entry accepts them."""

import json
from decimal import Decimal

import anthropic
import httpx
import pytest

from tests.integration.conftest import settle_events
from tests.support.mock_upstreams import Ok

THOUGHT = "First compare the two numbers."


def _chat(gw, body) -> httpx.Response:
    return gw.post(body)


def _sse_data(text: str) -> list[dict]:
    return [
        json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


@pytest.mark.parametrize(
    ("effort", "max_tokens", "budget"), [("low", 4000, 2048), ("high", 10000, 9999)]
)
def test_chat_effort_becomes_an_anthropic_thinking_budget(gw, effort, max_tokens, budget):
    gw.upstreams["anthropic"].script(Ok(content="9.11 < 9.9", thinking=THOUGHT))
    answer = _chat(
        gw,
        {
            "model": "anthropic/claude-haiku-4-5",
            "messages": [{"role": "user", "content": "Which is bigger?"}],
            "reasoning_effort": effort,
            "max_tokens": max_tokens,
            "temperature": 0.3,
        },
    )
    assert answer.status_code == 200, answer.text
    sent = gw.upstreams["anthropic"].last_request.json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert sent["max_tokens"] == max_tokens
    assert "temperature" not in sent  # thinking takes Anthropic's default sampling only
    message = answer.json()["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("9.11 < 9.9", THOUGHT)


def test_anthropic_thinking_streamed_as_reasoning_content(gw):
    gw.upstreams["anthropic"].script(Ok(content="yes", thinking=THOUGHT))
    answer = _chat(
        gw,
        {
            "model": "anthropic/claude-haiku-4-5",
            "messages": [{"role": "user", "content": "Sure?"}],
            "reasoning_effort": "medium",
            "max_tokens": 9000,
            "stream": True,
        },
    )
    chunks = _sse_data(answer.text)
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == THOUGHT
    assert "".join(d.get("content") or "" for d in deltas) == "yes"
    assert gw.upstreams["anthropic"].last_request.json["thinking"]["budget_tokens"] == 8192


def test_too_small_a_limit_for_anthropic_thinking_is_refused(gw):
    answer = _chat(
        gw,
        {
            "model": "anthropic/claude-haiku-4-5",
            "messages": [{"role": "user", "content": "Hi"}],
            "reasoning_effort": "low",
            "max_tokens": 500,
        },
    )
    assert answer.status_code == 400
    assert "max_tokens" in answer.json()["error"]["message"]
    assert gw.upstreams["anthropic"].requests == []


def test_chat_effort_becomes_gemini_thinking_and_thoughts_come_back(gw):
    gw.upstreams["google"].script(
        Ok(content="42", thinking=THOUGHT, output_tokens=300, reasoning_tokens=250),
        Ok(content="42", thinking=THOUGHT),
    )
    body = {
        "model": "google/gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Answer?"}],
        "reasoning_effort": "low",
    }
    answer = _chat(gw, body)
    sent = gw.upstreams["google"].last_request.json
    assert sent["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 1024,
        "includeThoughts": True,
    }
    message = answer.json()["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("42", THOUGHT)
    assert answer.json()["usage"]["completion_tokens_details"]["reasoning_tokens"] == 250
    streamed = _chat(gw, {**body, "stream": True})
    deltas = [c["choices"][0]["delta"] for c in _sse_data(streamed.text) if c.get("choices")]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == THOUGHT
    first, _second = settle_events(2)
    assert (first.output_tokens, first.reasoning_tokens) == (300, 250)


@pytest.fixture
def reasoning_model(mock_catalog):
    from llm.models import LLMModel

    return LLMModel.objects.create(
        provider=mock_catalog["openai"],
        model_id="o4-mini",
        context_window=200000,
        max_output_tokens=100000,
        input_price_per_1m=Decimal("1.10"),
        output_price_per_1m=Decimal("4.40"),
        cached_input_price_per_1m=Decimal("0.275"),
        capabilities=["tools", "streaming", "reasoning"],
    )


def test_messages_thinking_becomes_reasoning_effort_for_reasoning_models_only(gw, reasoning_model):
    gw.upstreams["openai"].script(Ok(content="A", reasoning_tokens=3), Ok(content="B"))
    client = anthropic.Anthropic(base_url=gw.url, api_key=gw.secret, max_retries=0)
    for model in ("o4-mini", "gpt-4o-mini"):
        client.messages.create(
            model=model,
            max_tokens=20000,
            thinking={"type": "enabled", "budget_tokens": 16000},
            messages=[{"role": "user", "content": "Think"}],
        )
    reasoning, plain = (request.json for request in gw.upstreams["openai"].requests)
    assert reasoning["reasoning_effort"] == "high"
    assert "reasoning_effort" not in plain  # gpt-4o-mini would refuse the field


def test_gemini_thought_returned_as_an_anthropic_thinking_block(gw):
    gw.upstreams["google"].script(
        Ok(content="Done", thinking=THOUGHT), Ok(content="Done", thinking=THOUGHT)
    )
    client = anthropic.Anthropic(base_url=gw.url, api_key=gw.secret, max_retries=0)
    kwargs = {
        "model": "google/gemini-2.5-flash",
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "messages": [{"role": "user", "content": "Think"}],
    }
    message = client.messages.create(**kwargs)
    sent = gw.upstreams["google"].last_request.json
    assert sent["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 1024  # "low"
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == THOUGHT
    with client.messages.stream(**kwargs) as stream:
        streamed = stream.get_final_message()
    assert [block.type for block in streamed.content] == ["thinking", "text"]
    assert (streamed.content[0].thinking, streamed.content[1].text) == (THOUGHT, "Done")


def test_responses_effort_to_anthropic_with_a_reasoning_item(gw):
    gw.upstreams["anthropic"].script(
        Ok(content="Plain", thinking=THOUGHT), Ok(content="Streamed", thinking=THOUGHT)
    )
    client = gw.client()
    kwargs = {
        "model": "anthropic/claude-haiku-4-5",
        "input": "Why?",
        "reasoning": {"effort": "medium", "summary": "auto"},
        "max_output_tokens": 16000,
    }
    response = client.responses.create(**kwargs)
    assert gw.upstreams["anthropic"].last_request.json["thinking"]["budget_tokens"] == 8192
    reasoning, _message = response.output
    assert (reasoning.type, reasoning.summary[0].text) == ("reasoning", THOUGHT)
    assert response.output_text == "Plain"
    with client.responses.stream(**kwargs) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.reasoning_summary_text.delta" in kinds
    assert final.output[0].summary[0].text == THOUGHT
    assert final.output_text == "Streamed"


def test_cache_control_stripped_for_strict_openai_vendors_only(gw):
    from llm.models import Provider

    marked = {
        "model": "openai/gpt-4o-mini",
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "Manual", "cache_control": {"type": "ephemeral"}}],
            },
            {"role": "user", "content": "Q?", "cache_control": {"type": "ephemeral"}},
        ],
    }  # fmt: skip
    answer = _chat(gw, marked)
    assert answer.status_code == 200, answer.text
    sent = gw.upstreams["openai"].last_request.json
    assert "cache_control" not in json.dumps(sent)
    assert sent["messages"][0]["content"] == [{"type": "text", "text": "Manual"}]
    # A provider that accepts the markers (OpenRouter passes them to Anthropic) keeps them; the
    # strict mock refuses them, so the call fails as the vendor would have.
    Provider.objects.filter(slug="openai").update(features={"cache_control": True})
    from gateway.services import snapshots

    snapshots.snapshots_clear()
    refused = _chat(gw, {**marked, "model": "openai/gpt-4o-mini"})
    assert "cache_control" in json.dumps(gw.upstreams["openai"].last_request.json)
    assert refused.status_code == 400
