"""Cost of `request_features_from` (the router's per-request scan) by prompt size and shape.

It runs on the event loop for every request, so whatever it costs stalls every other request of
the worker. Four shapes at 1k, 20k, 100k and 1M characters of message text: plain prose (a few
reasoning cues), code (fenced Python), a blob (base64 pasted as one word: no spaces, no cue),
and a 40-turn conversation with tool definitions, tool calls and tool results (the text spread
over the turns). Pure CPU: no Django, no database.

Usage:
  .venv/bin/python bench/request_features.py             # the code in the working tree
  .venv/bin/python bench/request_features.py --rev REV   # the code of a git revision (before)
Prints one `FEATURES` line per shape and size: median microseconds per call, and the extra over
the same shape at 1k characters.
"""

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (1_000, 20_000, 100_000, 1_000_000)
# Where request_features_from lived: first match wins (the router before the split).
SOURCE_PATHS = ("llm/services/request_features.py", "llm/services/router.py")

PROSE = (
    "The quarterly report covers revenue, churn and the hiring plan for the next two quarters. "
    "Please explain why the margin fell and compare it with last year. "
    "Customers in the north region renewed at a higher rate than the south. "
)
CODE = (
    "```python\nimport json\n\n\nclass Parser:\n    def parse(self, text):\n"
    "        return json.loads(text)\n```\nWhy does this raise an exception on empty input?\n"
)
BLOB = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg"
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": f"tool_{i}",
            "description": "Look something up in the tenant's records.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
    for i in range(5)
]


def _text(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _conversation(size: int) -> dict:
    """A system prompt, 40 turns (user, assistant tool call, tool result, assistant answer,
    repeated), then the last user message; the text split evenly over the turns."""
    share = _text(PROSE, size // 40)
    messages: list[dict] = [{"role": "system", "content": "You are a careful analyst."}]
    for turn in range(40):
        kind = turn % 4
        if kind == 0:
            messages.append({"role": "user", "content": share})
        elif kind == 1:
            call = {"name": "tool_1", "arguments": f'{{"query": "q{turn}"}}'}
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": f"c{turn}", "type": "function", "function": call}],
                }
            )
        elif kind == 2:
            messages.append({"role": "tool", "tool_call_id": f"c{turn - 1}", "content": share})
        else:
            messages.append({"role": "assistant", "content": share})
    messages.append({"role": "user", "content": share})
    return {"model": "auto", "messages": messages, "tools": TOOLS}


def bodies(size: int) -> dict[str, dict]:
    one = lambda text: {"model": "auto", "messages": [{"role": "user", "content": text}]}  # noqa: E731
    return {
        "plain": one(_text(PROSE, size)),
        "code": one(_text(CODE, size)),
        "blob": one(_text(BLOB, size)),
        "conversation": _conversation(size),
    }


def features_function(rev: str | None) -> Callable[..., object]:
    """The working tree's request_features_from, or the one at git revision `rev` (read-only)."""
    if rev is None:
        from llm.services.request_features import request_features_from

        return request_features_from
    for path in SOURCE_PATHS:
        shown = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True
        )
        if shown.returncode == 0:
            module = types.ModuleType(f"features_at_{rev}")
            exec(compile(shown.stdout, f"{rev}:{path}", "exec"), module.__dict__)
            return module.request_features_from
    raise SystemExit(f"request_features_from not found at {rev} in {', '.join(SOURCE_PATHS)}")


def median_us(function: Callable[..., object], body: Mapping, *, budget_s: float = 0.4) -> float:
    """Median of 7 timed batches, each sized to take about budget_s / 7."""
    start = time.perf_counter()
    function(body=body)
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(budget_s / 7 / once))
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(loops):
            function(body=body)
        samples.append((time.perf_counter() - start) / loops * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="time the code of this git revision instead")
    args = parser.parse_args()
    function = features_function(args.rev)
    label = args.rev or "working-tree"
    baseline: dict[str, float] = {}
    for size in SIZES:
        for shape, body in bodies(size).items():
            us = median_us(function, body)
            baseline.setdefault(shape, us)
            print(
                f"FEATURES code={label} shape={shape} chars={size} us={us:.1f} "
                f"extra_over_1k_us={us - baseline[shape]:.1f}"
            )


if __name__ == "__main__":
    main()
