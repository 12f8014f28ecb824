"""A compiled hot path, measured (issue 16, item 5): mypyc on the stream relay's modules, and
on a whole chat request's.

mypyc compiles type-annotated modules to C extensions without rewriting them, so it is the
cheapest compiled path to try. Two module sets: `relay` (the stream relay and the SSE decoder,
~45% of a stream500 worker in bench/README.md, "Where a Tollgate worker's CPU goes") and
`request` (every module a plain chat request runs through, the relay's included, but for three
that hold an async generator, which mypyc does not compile). Both are mypy-clean in the source.

Subcommands:
  build DIR [--modules relay|request]
               compile the set in place in the checkout DIR (a `git worktree`, never this one:
               the extension modules shadow the .py files, and the `request` set's
               TYPE_CHECKING imports are made run-time imports there, see _runtime_imports).
               mypy comes from a venv of its own, bench/.venv-mypyc (ignored), MYPY_VERSION.
  relay DIR... time the relay of bench/mock/stream500.sse (the mock's 500-chunk answer, fed in
               4 KiB reads as a socket delivers it) by each checkout, in turn, ROUNDS times, each
               in a fresh interpreter; prints µs per stream (the fastest round, the least
               disturbed by the machine, and the median) and their ratios to the first.
  instructions DIR...
               user-space instructions per plain chat request in each checkout (valgrind's
               callgrind around bench/request_call_counts.py; needs its database from a `make
               bench`): a count that a busy machine does not move.

Usage:
  git worktree add ../tg-compiled HEAD
  .venv/bin/python bench/compiled_hot_path.py build ../tg-compiled [--modules request]
  .venv/bin/python bench/compiled_hot_path.py relay . ../tg-compiled
  .venv/bin/python bench/compiled_hot_path.py instructions . ../tg-compiled
  BENCH_BASE_DIR=../tg-compiled BENCH_TARGETS="tollgate tollgate_base" make bench   # end to end
"""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MYPY_VERSION = "1.20.2"
MYPY_VENV = ROOT / "bench" / ".venv-mypyc"
# The stream relay's modules, and every module with a class that subclasses one of theirs:
# mypyc refuses an interpreted subclass of a compiled class.
RELAY_MODULES = (
    "llm/providers/sse.py",
    "llm/providers/openai_chat.py",
    "llm/providers/anthropic_messages.py",
    "llm/providers/gemini.py",
    "llm/providers/openai_responses.py",
    "llm/providers/anthropic_native.py",
)
# A whole chat request's own Python: every module with a function in the plain request's
# profile (bench/request_call_counts.py), the relay's with them; but for the three that hold an
# async generator, which mypyc does not compile (attempts.py, responses.py, http11_client.py).
REQUEST_MODULES = (
    *RELAY_MODULES,
    "gateway/views.py",
    "gateway/services/chat_completions.py",
    "gateway/services/admission.py",
    "gateway/services/plain_call.py",
    "gateway/services/holds.py",
    "gateway/services/metering.py",
    "gateway/services/ratelimit.py",
    "gateway/services/context.py",
    "gateway/services/request_parsing.py",
    "gateway/services/background.py",
    "billing/services/budgets.py",
    "billing/services/counters_redis.py",
    "billing/services/counter_plans.py",
    "llm/services/router.py",
    "llm/services/route_chain.py",
    "llm/services/routing_hints.py",
    "llm/services/request_features.py",
    "llm/services/token_cost.py",
    "llm/providers/http.py",
    "core/redis_pipelined.py",
    "core/redis.py",
    "core/metrics.py",
    "core/log_format.py",
    "core/redaction.py",
)
MODULE_SETS = {"relay": RELAY_MODULES, "request": REQUEST_MODULES}
STREAM = ROOT / "bench" / "mock" / "stream500.sse"
READ_SIZE = 4096
ROUNDS = 15
STREAMS_PER_ROUND = 300

_RELAY = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import llm.providers.openai_chat as chat
from llm.providers.openai_chat import OpenAIStreamParser
body = open(sys.argv[2], "rb").read()
reads = [body[i : i + int(sys.argv[3])] for i in range(0, len(body), int(sys.argv[3]))]
def one():
    parser = OpenAIStreamParser(model="openai/gpt-4o-mini", request_id="bench")
    return sum(len(parser.relay(read)) for read in reads)
size = one()
for _ in range(20):
    one()
start = time.perf_counter()
for _ in range(int(sys.argv[4])):
    one()
seconds = time.perf_counter() - start
compiled = chat.__file__.endswith(".so")
print(json.dumps({"us": seconds / int(sys.argv[4]) * 1e6, "bytes": size, "compiled": compiled}))
"""


# mypyc's own command line lets setuptools discover the project's packages (and refuse the flat
# layout); this names none, only the extension modules.
_SETUP = """
import sys
from mypyc.build import mypycify
from setuptools import setup
modules = sys.argv[1:]
sys.argv[1:] = ["build_ext", "--inplace"]
setup(
    name="tollgate-hot-path",
    packages=[],
    py_modules=[],
    ext_modules=mypycify(["--ignore-missing-imports", "--follow-imports=silent", *modules]),
)
"""


def _mypy_python() -> Path:
    python = MYPY_VENV / "bin" / "python"
    if not (MYPY_VENV / "bin" / "mypyc").exists():
        venv.create(MYPY_VENV, with_pip=True)
        pip = MYPY_VENV / "bin" / "pip"
        subprocess.run([pip, "install", "-q", f"mypy=={MYPY_VERSION}", "setuptools"], check=True)
    return python


def build(checkout: Path, *, modules: tuple[str, ...]) -> None:
    if checkout.resolve() == ROOT:
        sys.exit("build compiles in place: give it another checkout (git worktree add ...)")
    _runtime_imports(checkout, modules)
    subprocess.run(
        [_mypy_python(), "-c", _SETUP, *modules],
        cwd=checkout,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for module in modules:
        stem = (checkout / module).with_suffix("")
        if not list(stem.parent.glob(f"{stem.name}.cpython-*.so")):
            sys.exit(f"{module}: no extension module was built")
    print(f"compiled in {checkout}: {', '.join(modules)}")


def _runtime_imports(checkout: Path, modules: tuple[str, ...]) -> None:
    """mypyc evaluates a compiled dataclass's annotations when its module is imported, so the
    names imported under `if TYPE_CHECKING:` (kept there against import circles) must exist at
    run time: in the throwaway checkout only, those imports become plain ones."""
    for module in modules:
        path = checkout / module
        text = path.read_text()
        path.write_text(text.replace("\nif TYPE_CHECKING:\n", "\nif True:  # mypyc\n"))


def _instructions(checkout: Path, requests: int) -> subprocess.Popen:
    """request_call_counts.py --cpu in `checkout` under callgrind (its summary counts every
    user-space instruction the process ran); the mock upstream runs in the same process, Redis
    does not."""
    return subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "bench/request_call_counts.py",
            "--cpu",
            "--requests",
            str(requests),
        ],
        cwd=checkout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def instructions(checkouts: list[Path]) -> None:
    """Instructions per plain chat request, each checkout run twice (16 and 336 requests a
    pass, five passes, the same start-up and warm-up): the difference over the 1,600 more
    requests leaves start-up and warm-up out. A count, not a time: a busy machine does not
    move it. It keeps what the process does by the clock (periodic flushes, watchers), which
    valgrind's ~50x slowdown stretches: a ratio between checkouts, not an absolute figure."""
    if shutil.which("valgrind") is None:
        sys.exit("needs valgrind (apt-get install valgrind)")
    small, large = 16, 336
    runs = {
        (checkout, n): _instructions(checkout.resolve(), n)
        for checkout in checkouts
        for n in (small, large)
    }
    counts = {}
    for (checkout, n), process in runs.items():
        output, _ = process.communicate()
        found = re.search(r"Collected : (\d+)", output)
        if process.returncode != 0 or found is None:
            sys.exit(f"{checkout} ({n} requests a pass) failed:\n{output[-2000:]}")
        counts[checkout, n] = int(found.group(1))
    first = None
    for checkout in checkouts:
        per_request = (counts[checkout, large] - counts[checkout, small]) / (5 * (large - small))
        first = first or per_request
        print(
            f"INSTRUCTIONS {checkout} per_request={per_request:,.0f} "
            f"ratio={per_request / first:.3f}"
        )


def relay(checkouts: list[Path]) -> None:
    runs: dict[Path, list[float]] = {checkout: [] for checkout in checkouts}
    seen: dict[Path, dict] = {}
    for _round in range(ROUNDS):
        for checkout in checkouts:  # interleaved: the machine's drift hits every checkout alike
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _RELAY,
                    str(checkout.resolve()),
                    str(STREAM),
                    str(READ_SIZE),
                    str(STREAMS_PER_ROUND),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout)
            runs[checkout].append(result["us"])
            seen[checkout] = result
    sizes = {result["bytes"] for result in seen.values()}
    if len(sizes) != 1:
        sys.exit(f"the checkouts relayed different bytes: {sizes}")
    first_min, first_median = min(runs[checkouts[0]]), statistics.median(runs[checkouts[0]])
    for checkout in checkouts:
        fastest, median = min(runs[checkout]), statistics.median(runs[checkout])
        print(
            f"RELAY {checkout} compiled={seen[checkout]['compiled']} "
            f"min_us_per_stream={fastest:.0f} median={median:.0f} "
            f"min_ratio={fastest / first_min:.2f} median_ratio={median / first_median:.2f} "
            f"client_bytes={seen[checkout]['bytes']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build")
    build_command.add_argument("checkout", type=Path)
    build_command.add_argument("--modules", choices=sorted(MODULE_SETS), default="relay")
    commands.add_parser("relay").add_argument("checkouts", type=Path, nargs="+")
    commands.add_parser("instructions").add_argument("checkouts", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "build":
        build(args.checkout, modules=MODULE_SETS[args.modules])
    elif args.command == "instructions":
        instructions(args.checkouts)
    else:
        relay(args.checkouts)


if __name__ == "__main__":
    main()
