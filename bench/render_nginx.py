"""Render nginx.conf.template: port, prefix, worker count, the mock/ directory (files served as
they are) and the fixed bodies from mock/ inlined."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def quote(text: str) -> str:
    """Escape a body for an nginx single-quoted string; `$` would start a variable, so refuse it."""
    if "$" in text:
        raise SystemExit("mock bodies must not contain '$'")
    return text.replace("\\", "\\\\").replace("'", "\\'")


def main() -> None:
    port, prefix, workers = sys.argv[1], sys.argv[2], sys.argv[3]
    conf = (HERE / "nginx.conf.template").read_text()
    for name, value in {
        "__PORT__": port,
        "__PREFIX__": prefix,
        "__WORKERS__": workers,
        "__MOCK_DIR__": str(HERE / "mock"),
        "__COMPLETION__": quote((HERE / "mock" / "completion.json").read_text().strip()),
        "__STREAM__": quote((HERE / "mock" / "stream.sse").read_text()),
    }.items():
        conf = conf.replace(name, value)
    sys.stdout.write(conf)


if __name__ == "__main__":
    main()
