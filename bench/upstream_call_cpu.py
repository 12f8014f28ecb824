"""CPU time of one plain upstream call: through the httpx client (over the aiohttp transport)
against the direct aiohttp path (`AiohttpTransport.send_plain`), the two alternated in one run.

Usage: .venv/bin/python bench/upstream_call_cpu.py http://127.0.0.1:PORT/v1
The URL is an OpenAI-compatible mock in another process (the nginx mock of `make bench`: start
it from a run directory with `nginx -c $RUN/nginx/nginx.conf -p $RUN/nginx/`). Process CPU time
(`time.process_time`), sequential calls, the minimum of six batches of 300 per path and workload:
what the calls cost this process, little distorted by other processes' load.
"""

import asyncio
import os
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

import workloads  # noqa: E402

from llm.providers import http  # noqa: E402
from llm.providers.contract import UpstreamRequest  # noqa: E402
from llm.providers.registry import get_adapter  # noqa: E402

BATCH, ROUNDS = 300, 6


async def batch_cpu_us(*, base_url: str, body: dict, direct: bool) -> float:
    """Microseconds of CPU per call over one batch, on a fresh client."""
    request = UpstreamRequest(
        method="POST",
        url=f"{base_url}/chat/completions",
        headers={"Authorization": "Bearer sk-bench", "Content-Type": "application/json"},
        json=body,
        guarded=False,
    )
    adapter = get_adapter("openai_chat")
    http.get_http_client()
    if not direct:
        http._direct_transports.clear()  # the client stays; the call goes through httpx's objects
    try:
        start = time.process_time()
        for _ in range(BATCH):
            await http.upstream_call(
                adapter=adapter, request=request, model_id="gpt-4o-mini", timeout=5
            )
        return (time.process_time() - start) / BATCH * 1e6
    finally:
        await http.close_http_client()


async def main(base_url: str) -> None:
    for name in ("tiny", "rag", "conversation"):
        body = orjson.loads(workloads.body(workload=name, mode="plain", model="gpt-4o-mini"))
        through_httpx, direct = [], []
        for _ in range(ROUNDS):
            through_httpx.append(await batch_cpu_us(base_url=base_url, body=body, direct=False))
            direct.append(await batch_cpu_us(base_url=base_url, body=body, direct=True))
        print(
            f"{name}: httpx client {min(through_httpx):.0f} us, direct {min(direct):.0f} us "
            f"({min(direct) / min(through_httpx):.2f}x)"
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
