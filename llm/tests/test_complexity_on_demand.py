"""The complexity cue scan only when a routing rule reads it: `request_features_from` without
`scan_complexity`, `with_complexity` later, and which configs read it."""

import dataclasses

import pytest

from llm.services.request_features import request_features_from, with_complexity
from llm.services.routing_snapshots import ConfigInfo

PROOF = "Prove rigorously, step by step, why the algorithm terminates. " * 3
BODIES = {
    "proof": {"messages": [{"role": "user", "content": PROOF}]},
    "code in parts": {
        "messages": [
            {"role": "user", "content": "Why?"},
            {"role": "assistant", "content": "Because."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "```python\ndef f(): return g()\n```"},
                    {"type": "image_url", "image_url": {"url": "https://img.test/a.png"}},
                    {"type": "text", "text": "debug this exception and explain()"},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "prove it"},
        ]
    },
    "long and plain": {"messages": [{"role": "user", "content": "ok " * 40_000}]},
    "no user message": {"messages": [{"role": "system", "content": "Explain and compare."}]},
    "malformed": {"messages": [None, {"role": "user", "content": 7}]},
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_the_deferred_scan_finds_what_the_eager_one_finds(name):
    body = BODIES[name]
    eager = request_features_from(body=body)
    deferred = request_features_from(body=body, scan_complexity=False)
    assert deferred.complexity is None
    assert dataclasses.replace(deferred, complexity=eager.complexity) == eager
    assert with_complexity(deferred, body=body) == eager


def test_the_bodies_cover_every_complexity():
    found = {request_features_from(body=body).complexity for body in BODIES.values()}
    assert found == {"low", "medium", "high"}


def test_an_already_scanned_request_is_not_scanned_again():
    eager = request_features_from(body=BODIES["proof"])
    assert with_complexity(eager, body={"messages": []}) is eager


def _config(rules: list) -> ConfigInfo:
    return ConfigInfo(
        pk=1,
        name="default",
        is_default=True,
        primary_model="openai/gpt-4o-mini",
        fallback_models=(),
        use_byok=False,
        params={},
        rules=rules,
        cache_ttl_seconds=0,
    )


def test_a_config_reads_complexity_only_through_a_rule_condition():
    assert _config([{"when": {"complexity": ["high"]}, "route": {"model": "x"}}]).reads_complexity
    assert not _config([{"when": {"task": "code"}, "route": {"model": "x"}}]).reads_complexity
    assert not _config([{"when": {}, "route": {"priority": "quality"}}, "junk"]).reads_complexity
    assert not _config([]).reads_complexity
