"""A compiled hot path, measured (issue 16, item 5): mypyc on the stream relay's modules.

The 500-chunk stream is where a worker's CPU goes to pure-Python work (bench/README.md, "Where a
Tollgate worker's CPU goes": the relay and the SSE decoder, ~45% of a stream500 worker); the
rest of a request is spent in C already (orjson, hiredis, the regex of the cue scan, sockets).
mypyc compiles type-annotated modules to C extensions without rewriting them, so it is the
cheapest compiled path to try: these modules compile as they are.

Subcommands:
  build DIR    compile COMPILED_MODULES in place in the checkout DIR (a `git worktree`, never
               this one: the extension modules shadow the .py files). mypy comes from a venv of
               its own, bench/.venv-mypyc (ignored), pinned to MYPY_VERSION.
  relay DIR... time the relay of bench/mock/stream500.sse (the mock's 500-chunk answer, fed in
               4 KiB reads as a socket delivers it) by each checkout, in turn, ROUNDS times, each
               in a fresh interpreter; prints µs per stream (median) and the ratio to the first.

Usage:
  git worktree add /tmp/tg-compiled HEAD && .venv/bin/python bench/compiled_hot_path.py build /tmp/tg-compiled
  .venv/bin/python bench/compiled_hot_path.py relay . /tmp/tg-compiled
  BENCH_BASE_DIR=/tmp/tg-compiled BENCH_TARGETS="tollgate tollgate_base" make bench   # end to end
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
COMPILED_MODULES = ("llm/providers/sse.py", "llm/providers/openai_chat.py")
STREAM = ROOT / "bench" / "mock" / "stream500.sse"
READ_SIZE = 4096
ROUNDS = 7
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
print(json.dumps({"us": seconds / int(sys.argv[4]) * 1e6, "bytes": size, "compiled": chat.__file__.endswith(".so")}))
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
    first = statistics.median(runs[checkouts[0]])
    for checkout in checkouts:
        median = statistics.median(runs[checkout])
        print(
            f"RELAY {checkout} compiled={seen[checkout]['compiled']} "
            f"median_us_per_stream={median:.0f} min={min(runs[checkout]):.0f} "
            f"max={max(runs[checkout]):.0f} ratio_to_first={median / first:.2f} "
            f"client_bytes={sizes.pop() if sizes else seen[checkout]['bytes']}"
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
