"""A compiled hot path, measured (issue 16, item 5): mypyc on the stream relay's modules.

The 500-chunk stream is where a worker's CPU goes to pure-Python work (bench/README.md, "Where a
Tollgate worker's CPU goes": the relay and the SSE decoder, ~45% of a stream500 worker); the
rest of a request is spent in C already (orjson, hiredis, the regex of the cue scan, sockets).
mypyc compiles type-annotated modules to C extensions without rewriting them, so it is the
cheapest compiled path to try: these modules compile as they are (after five type fixes mypy
asked for, kept in the source).

Subcommands:
  build DIR    compile COMPILED_MODULES in place in the checkout DIR (a `git worktree`, never
               this one: the extension modules shadow the .py files). mypy comes from a venv of
               its own, bench/.venv-mypyc (ignored), pinned to MYPY_VERSION.
  relay DIR... time the relay of bench/mock/stream500.sse (the mock's 500-chunk answer, fed in
               4 KiB reads as a socket delivers it) by each checkout, in turn, ROUNDS times, each
               in a fresh interpreter; prints µs per stream (the fastest round, the least
               disturbed by the machine, and the median) and their ratios to the first.

Usage:
  git worktree add ../tg-compiled HEAD
  .venv/bin/python bench/compiled_hot_path.py build ../tg-compiled
  .venv/bin/python bench/compiled_hot_path.py relay . ../tg-compiled
  BENCH_BASE_DIR=../tg-compiled BENCH_TARGETS="tollgate tollgate_base" make bench   # end to end
"""

import argparse
import json
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
COMPILED_MODULES = (
    "llm/providers/sse.py",
    "llm/providers/openai_chat.py",
    "llm/providers/anthropic_messages.py",
    "llm/providers/gemini.py",
    "llm/providers/openai_responses.py",
    "llm/providers/anthropic_native.py",
)
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


def build(checkout: Path) -> None:
    if checkout.resolve() == ROOT:
        sys.exit("build compiles in place: give it another checkout (git worktree add ...)")
    subprocess.run(
        [_mypy_python(), "-c", _SETUP, *COMPILED_MODULES],
        cwd=checkout,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for module in COMPILED_MODULES:
        stem = (checkout / module).with_suffix("")
        if not list(stem.parent.glob(f"{stem.name}.cpython-*.so")):
            sys.exit(f"{module}: no extension module was built")
    print(f"compiled in {checkout}: {', '.join(COMPILED_MODULES)}")


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
    commands.add_parser("build").add_argument("checkout", type=Path)
    commands.add_parser("relay").add_argument("checkouts", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "build":
        build(args.checkout)
    else:
        relay(args.checkouts)


if __name__ == "__main__":
    main()
