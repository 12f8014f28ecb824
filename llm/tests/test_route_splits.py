"""Weighted splits: weights over seeded draws, sticky arms by user and by tag."""

import random
from collections import Counter

from llm.services.routing_hints import RoutingHints
from llm.tests.routing_support import DEFAULT, cfg, ids, route


def test_split_honours_weights_over_seeded_draws():
    rng = random.Random(1234)
    counts = Counter(
        ids(route("auto", [DEFAULT], hints=RoutingHints(tags=("experiment",)), rng=rng))[0]
        for _ in range(5000)
    )
    share = counts["openai/gpt-4.1"] / 5000
    assert 0.88 <= share <= 0.92
    assert counts["anthropic/claude-sonnet-4-5"] == 5000 - counts["openai/gpt-4.1"]


def test_split_is_exact_for_a_seed():
    first = [
        ids(
            route("auto", [DEFAULT], hints=RoutingHints(tags=("experiment",)), rng=random.Random(7))
        )[0]
        for _ in range(3)
    ]
    assert len(set(first)) == 1  # same seed, same arm


def test_split_reason_and_chain():
    decision = route(
        "auto", [DEFAULT], hints=RoutingHints(tags=("experiment",)), rng=random.Random(0)
    )
    assert decision.rule_index == 2
    assert decision.reason.startswith("rule 2 (tags_any=[experiment]) split 90/10 arm ")
    assert "(random)" in decision.reason
    # the config chain follows the arm
    assert ids(decision)[1:] == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "google/gemini-2.5-flash",
    ]


def sticky_config(sticky_by):
    return cfg(
        rules=[
            {
                "when": {},
                "route": {
                    "split": [
                        {"model": "gpt-4.1", "weight": 1},
                        {"model": "claude-sonnet-4-5", "weight": 1},
                    ],
                    "sticky_by": sticky_by,
                },
            }
        ]
    )


def test_split_sticky_by_user():
    config = sticky_config("user")
    for user in ("u1", "u2", "u3", "someone@example.com"):
        arms = {
            ids(route("auto", [config], hints=RoutingHints(user=user), rng=random.Random(seed)))[0]
            for seed in range(20)
        }
        assert len(arms) == 1, user
    spread = Counter(
        ids(route("auto", [config], hints=RoutingHints(user=f"user-{i}")))[0] for i in range(400)
    )
    assert 150 <= spread["openai/gpt-4.1"] <= 250
    decision = route("auto", [config], hints=RoutingHints(user="u1"))
    assert "(sticky by user)" in decision.reason


def test_split_sticky_by_tag():
    config = sticky_config("tag")
    for tags in (("cohort-a",), ("cohort-b", "x")):
        arms = {
            ids(route("auto", [config], hints=RoutingHints(tags=tags), rng=random.Random(seed)))[0]
            for seed in range(20)
        }
        assert len(arms) == 1
    # tag order and case do not move a request to another arm
    a = ids(route("auto", [config], hints=RoutingHints(tags=("X", "cohort-b"))))[0]
    b = ids(route("auto", [config], hints=RoutingHints(tags=("cohort-b", "x"))))[0]
    assert a == b


def test_sticky_split_without_a_key_is_random():
    config = sticky_config("user")
    arms = {ids(route("auto", [config], rng=random.Random(seed)))[0] for seed in range(40)}
    assert arms == {"openai/gpt-4.1", "anthropic/claude-sonnet-4-5"}
