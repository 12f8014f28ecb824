"""Who uses the machine's CPU during one benchmark cell: every process's user + system time
over a window, summed by command name (Celery's processes together), as % of one core.

The gateway's workers share the two cores with Redis, the Celery worker that ingests usage,
nginx (the mock) and wrk; `make bench` reports the workers' CPU per request only. This shows
the rest. It waits for the cell's wrk (its `-c` and `-d` arguments), lets it run a second,
then samples for `--seconds`:

    .venv/bin/python bench/cpu_by_process.py --connections 16 --duration 10 &
    BENCH_TARGETS=tollgate BENCH_WORKLOADS=tiny BENCH_MODES=plain BENCH_CONCURRENCY=16 \
      BENCH_DURATION=10 make bench
"""

import argparse
import collections
import os
import time
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[str, int]]:
    """pid -> (name, user + system ticks); Celery's processes all named `celery`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (
            "celery" if "celery" in cmdline else name,
            int(fields[11]) + int(fields[12]),
        )
    return found


def _wrk_running(connections: int, duration: int) -> bool:
    wanted = (f"-c{connections}", f"-d{duration}s")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"wrk") and all(w.encode() in args for w in wanted):
                return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="the cell's wrk -d")
    parser.add_argument("--seconds", type=float, default=6.0, help="the sampled window")
    options = parser.parse_args()
    while not _wrk_running(options.connections, options.duration):
        time.sleep(0.05)
    time.sleep(1)
    before, started = _processes(), time.monotonic()
    time.sleep(options.seconds)
    after, elapsed = _processes(), time.monotonic() - started
    by_name: collections.Counter[str] = collections.Counter()
    for pid, (name, ticks) in after.items():
        if pid in before:
            by_name[name] += ticks - before[pid][1]
    for name, ticks in by_name.most_common(12):
        if ticks:
            print(f"CPU {name:<16} {ticks / HZ / elapsed * 100:6.1f}% of a core")


if __name__ == "__main__":
    main()
