"""Reasoning controls across wire formats: OpenAI's `reasoning_effort` (chat) / `reasoning.effort`
(responses), Anthropic's `thinking` budget and Gemini's `thinkingConfig.thinkingBudget`.

The mapping (tokens of thinking each effort may spend):

| effort  | Anthropic budget_tokens | Gemini thinkingBudget |
|---------|-------------------------|-----------------------|
| none    | thinking off            | 0                     |
| minimal | 1024                    | 512                   |
| low     | 2048                    | 1024                  |
| medium  | 8192                    | 8192                  |
| high    | 24576                   | 24576                 |

Anthropic counts thinking inside `max_tokens` (as OpenAI counts reasoning inside the output
limit), so the budget is capped at `max_tokens - 1`; below Anthropic's minimum of 1024 the
request is refused rather than sent without the thinking it asked for. With thinking on,
Anthropic accepts no `temperature` or `top_p` other than its defaults: they are left out.
Back the other way, an Anthropic budget maps to the smallest effort whose budget covers it.
"""

from collections.abc import Mapping
from typing import Any

from llm.providers.errors import unsupported

ANTHROPIC_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
GEMINI_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
ANTHROPIC_MIN_BUDGET = 1024
EFFORTS = ("none", "minimal", "low", "medium", "high")


def effort_of(body: Mapping[str, Any]) -> str | None:
    """The request's effort (`reasoning_effort`), checked; None when it sets none."""
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in EFFORTS:
        raise unsupported(f"reasoning_effort must be one of {', '.join(EFFORTS)}")
    return str(effort)


def anthropic_thinking(body: Mapping[str, Any], *, max_tokens: int) -> dict[str, Any] | None:
    """Anthropic's `thinking` for the request's effort (table: module doc)."""
    effort = effort_of(body)
    if effort is None:
        return None
    if effort == "none":
        return {"type": "disabled"}
    budget = min(ANTHROPIC_BUDGETS[effort], max_tokens - 1)
    if budget < ANTHROPIC_MIN_BUDGET:
        raise unsupported(
            f"reasoning_effort {effort!r} needs max_tokens above {ANTHROPIC_MIN_BUDGET} on "
            "Anthropic models (thinking counts inside max_tokens)"
        )
    return {"type": "enabled", "budget_tokens": budget}


def gemini_thinking_config(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """Gemini's `thinkingConfig` for the request's effort; thoughts come back as summaries."""
    effort = effort_of(body)
    if effort is None:
        return None
    config: dict[str, Any] = {"thinkingBudget": GEMINI_BUDGETS[effort]}
    if effort != "none":
        config["includeThoughts"] = True
    return config


def effort_from_thinking(thinking: Any) -> str | None:
    """The OpenAI effort of an Anthropic `thinking` setting (None: no thinking asked for)."""
    if not isinstance(thinking, Mapping):
        return None
    if thinking.get("type") == "disabled":
        return "none"
    if thinking.get("type") not in ("enabled", "adaptive"):
        return None
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int):
        return "medium"
    for effort in ("low", "medium"):
        if budget <= ANTHROPIC_BUDGETS[effort]:
            return effort
    return "high"
