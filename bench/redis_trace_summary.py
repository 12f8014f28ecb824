"""Summarise `redis-cli monitor` lines of the benchmark's Redis DB: commands per request.

Usage: python bench/redis_trace_summary.py MONITOR.txt REQUESTS
Client commands are those a client sent (a pipeline sends several in one round trip, so they
are an upper bound on round trips); commands run inside Lua scripts (`[db lua]`) are listed
apart (server time, no round trip). Clients that touch Celery's or kombu's
keys (the worker and beat) are left out: they are not the gateway.
"""

import re
import shlex
import sys
from collections import Counter

LINE = re.compile(r"^\d+\.\d+ \[\d+ (?P<client>[^\]]+)\] (?P<rest>.*)$")
CELERY_MARKERS = ("celery", "_kombu", "pidbox", "unacked")


def parse(path: str) -> list[tuple[str, str, str]]:
    rows = []
    with open(path, errors="replace") as fh:
        for raw in fh:
            match = LINE.match(raw.strip())
            if not match:
                continue
            rest = match["rest"]
            try:
                parts = shlex.split(rest)
            except ValueError:
                parts = rest.split()
            if parts:
                rows.append((match["client"], parts[0].upper(), rest))
    return rows


def main() -> None:
    path, requests = sys.argv[1], int(sys.argv[2])
    rows = parse(path)
    celery_clients = {
        c for c, _, rest in rows if c != "lua" and any(m in rest for m in CELERY_MARKERS)
    }
    trips: Counter = Counter()
    in_lua: Counter = Counter()
    for client, command, rest in rows:
        if client in celery_clients or any(m in rest for m in CELERY_MARKERS):
            continue
        (in_lua if client == "lua" else trips)[command] += 1
    print(
        f"client commands per request: {sum(trips.values()) / requests:.2f}  "
        + "  ".join(f"{k}={v / requests:.2f}" for k, v in trips.most_common())
    )
    print(
        f"commands inside Lua per request: {sum(in_lua.values()) / requests:.2f}  "
        + "  ".join(f"{k}={v / requests:.2f}" for k, v in in_lua.most_common())
    )


if __name__ == "__main__":
    main()
