"""Weighted splits: which arm of a rule's `split` serves a request (A/B tests, gradual rollouts).

An arm is drawn by weight, at random, or sticky: the same user (or set of tags) always lands on
the same arm of the same rule, across workers and restarts (a hash, no stored state).
"""

import hashlib
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llm import rules as rule_lang

if TYPE_CHECKING:
    from llm.services.routing_hints import RoutingHints


def split_arms(split: Any) -> list[tuple[str, float]]:
    """(model ref, weight) of a stored split; malformed arms (saved before validation) are left
    out."""
    arms = []
    for arm in split if isinstance(split, list) else ():
        if not isinstance(arm, Mapping) or not isinstance(arm.get("model"), str):
            continue
        weight = arm.get("weight")
        if not rule_lang.split_weight_ok(weight):
            continue
        arms.append((arm["model"], float(weight)))
    return arms


def split_sticky_key(sticky_by: Any, hints: "RoutingHints") -> str | None:
    """What keeps a request on its arm (`sticky_by` user or tag); None draws at random."""
    if sticky_by == "user":
        return hints.user
    if sticky_by == "tag" and hints.tags:
        return ",".join(sorted({t.casefold() for t in hints.tags}))
    return None


def split_arm_pick(
    arms: list[tuple[str, float]], *, sticky_key: str | None, salt: str, rng: random.Random
) -> int:
    """The index of the arm that serves: a point in [0, 1) from the sticky key's hash (salted
    per rule, so rules split independently) or from `rng`, laid over the cumulative weights."""
    total = sum(weight for _, weight in arms)
    if sticky_key is not None:
        digest = hashlib.sha256(f"{salt}\x00{sticky_key}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
    else:
        point = rng.random()
    target = point * total
    cumulative = 0.0
    for index, (_, weight) in enumerate(arms):
        cumulative += weight
        if target < cumulative:
            return index
    return len(arms) - 1
