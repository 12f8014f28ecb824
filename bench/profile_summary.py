"""Summarise py-spy collapsed stacks (`--format raw`): where the gateway's CPU time goes.

Usage: python bench/profile_summary.py STACKS.txt [top N, default 30]
Prints the functions with the most inclusive time (share of all samples in which the function is
on the stack) and the most self time (the function is the innermost frame).
"""

import sys
from collections import Counter
from pathlib import Path

PROJECT_ROOT = f"{Path(__file__).resolve().parent.parent}/"

# Frames on every stack of a uvicorn worker: left out of the inclusive list.
WRAPPERS = (
    "multiprocessing/",
    "uvicorn/_subprocess",
    "uvicorn/supervisors",
    "uvicorn/server",
    "uvicorn/_compat",
    "asyncio/runners",
    "(<string>)",
    "threading.py)",
)
CATEGORIES = (  # first match wins; matched against the innermost frame's file
    (
        "thread hops (asgiref, threading, concurrent.futures)",
        ("asgiref/", "threading.py", "concurrent/futures", "_thread"),
    ),
    (
        "project code (gateway, core, llm, billing, tenants, config)",
        ("gateway/", "core/", "llm/", "billing/", "tenants/", "config/"),
    ),
    ("Django (handlers, middleware, http)", ("django/",)),
    ("whitenoise", ("whitenoise/",)),
    (
        "httpx / aiohttp / anyio (upstream client)",
        ("httpx", "httpcore", "aiohttp/", "anyio/", "h11/"),
    ),
    ("copy (deepcopy)", ("copy.py",)),
    ("dataclasses", ("dataclasses.py", "(<string>)")),
    ("redis client", ("redis/",)),
    ("psycopg", ("psycopg",)),
    ("uvicorn / httptools", ("uvicorn/", "httptools")),
    ("logging", ("logging/",)),
    ("json (orjson / json)", ("orjson", "json/")),
    ("asyncio / uvloop", ("asyncio/", "uvloop")),
)


def category(name: str) -> str:
    for label, markers in CATEGORIES:
        if any(m in name for m in markers):
            return label
    return "other"


def frame_name(frame: str) -> str:
    """`func (path/to/file.py:123)` -> `func (file path shortened to its package)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", PROJECT_ROOT):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def main() -> None:
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    inclusive: Counter = Counter()
    self_time: Counter = Counter()
    by_category: Counter = Counter()
    total = 0
    with open(path) as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [frame_name(f) for f in stack.split(";") if f]
            total += n
            for name in set(frames):
                if not any(w in name for w in WRAPPERS):
                    inclusive[name] += n
            if frames:
                self_time[frames[-1]] += n
                by_category[category(frames[-1])] += n
    if not total:
        print("no samples")
        return
    print(f"{total} samples (CPU only: idle waits are not sampled)\n")
    print("| self % | where the CPU goes (by innermost frame) |\n|---:|---|")
    for name, n in by_category.most_common():
        print(f"| {100 * n / total:.1f} | {name} |")
    print()
    print("| inclusive % | function |\n|---:|---|")
    for name, n in inclusive.most_common(top):
        print(f"| {100 * n / total:.1f} | `{name}` |")
    print("\n| self % | function |\n|---:|---|")
    for name, n in self_time.most_common(top):
        print(f"| {100 * n / total:.1f} | `{name}` |")


if __name__ == "__main__":
    main()
