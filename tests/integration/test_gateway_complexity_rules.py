"""A `complexity` rule still routes through the gateway, which scans the prompt's cues only for
a tenant whose configs have such a rule (llm/services/request_features.py `with_complexity`)."""

import pytest

PROOF = "Prove rigorously, step by step, that the algorithm terminates, and explain why."
RULES = [{"when": {"complexity": "high"}, "route": {"model": "anthropic/claude-haiku-4-5"}}]


@pytest.mark.parametrize("stream", [False, True])
def test_a_complexity_rule_routes_hard_prompts_and_only_those(gw, stream):
    gw.set_config(rules=RULES)
    client = gw.client()
    for prompt, expected in ((PROOF, "anthropic/claude-haiku-4-5"), ("Hi", "openai/gpt-4o-mini")):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": prompt}], stream=stream
        )
        assert raw.headers["x-tollgate-model"] == expected, prompt
        if stream:
            raw.parse().close()


def test_without_a_complexity_rule_the_same_prompt_takes_the_primary(gw):
    gw.set_config(
        rules=[{"when": {"task": "code"}, "route": {"model": "anthropic/claude-haiku-4-5"}}]
    )
    raw = gw.client().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": PROOF}]
    )
    assert raw.headers["x-tollgate-model"] == "openai/gpt-4o-mini"
