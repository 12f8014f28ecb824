"""CPU per answer of one uvicorn process: httptools' own protocol against
core.uvicorn_protocol's (a response head joined to its body), alternated, on a trivial ASGI app
(`app` below) that answers a plain JSON body or a short stream. Process CPU (utime + stime from
/proc) over the requests wrk completed; each protocol's best of --rounds.

    .venv/bin/python bench/uvicorn_protocol_cpu.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = {
    "httptools": "httptools",
    "joined head": "core.uvicorn_protocol:JoinedHeadHttpToolsProtocol",
}
BODY = (
    b'{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":'
    b'{"role":"assistant","content":"Hello there, how can I help?"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}'
)


async def app(scope, receive, send) -> None:
    """The served app (uvicorn imports this module): a plain JSON answer, or 5 chunks."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/stream":
        head = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        for n in range(5):
            chunk = b'data: {"n": %d}\n\n' % n
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})
        return
    head = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": head})
    await send({"type": "http.response.body", "body": BODY})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(*, protocol: str, path: str, seconds: int) -> tuple[float, float]:
    """(CPU microseconds per answer, answers per second) of one server process."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "uvicorn_protocol_cpu:app"]
    command += ["--app-dir", str(ROOT / "bench"), "--port", str(port), "--loop", "uvloop"]
    command += ["--http", protocol, "--no-access-log", "--log-level", "warning"]
    server = subprocess.Popen([*command, "--lifespan", "off"], cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        deadline = time.monotonic() + 20
        while subprocess.run(["curl", "-s", "-o", "/dev/null", url]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.1)
        subprocess.run(["wrk", "-t1", "-c16", "-d1s", url], capture_output=True)  # warm-up
        before = _cpu_seconds(server.pid)
        wrk = ["wrk", "-t1", "-c16", f"-d{seconds}s", url]
        out = subprocess.run(wrk, capture_output=True, text=True).stdout
        time.sleep(0.2)
        used = _cpu_seconds(server.pid) - before
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        return used * 1e6 / requests, requests / seconds
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    for path in ("/plain", "/stream"):
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, protocol in PROTOCOLS.items():
                cpu_us, rps = _measure(protocol=protocol, path=path, seconds=args.seconds)
                print(f"{path} {name}: {cpu_us:.1f} us CPU/answer, {rps:,.0f} req/s", flush=True)
                best[name] = min(cpu_us, best.get(name, cpu_us))
        base, joined = best["httptools"], best["joined head"]
        print(
            f"{path}: best {base:.1f} us (httptools), {joined:.1f} us (joined head), "
            f"ratio {joined / base:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
