"""CPU time of one plain upstream call, three ways alternated in one run: through the httpx
client (over the aiohttp transport: the path of guarded calls), straight through an aiohttp
session (the direct path before http11_client.py), and the direct path now (`upstream_call` with
Tollgate's own HTTP/1.1 client).

Usage: .venv/bin/python bench/upstream_call_cpu.py http://127.0.0.1:PORT/v1
The URL is an OpenAI-compatible mock in another process (the nginx mock of `make bench`: start
it from a run directory with `nginx -c $RUN/nginx/nginx.conf -p $RUN/nginx/`). Process CPU time
(`time.process_time`), sequential calls, the minimum of six batches of 300 per path and workload:
what the calls cost this process, little distorted by other processes' load.
"""

import os
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import uvloop

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


def _request(base_url: str, body: dict) -> UpstreamRequest:
    return UpstreamRequest(
        method="POST",
        url=f"{base_url}/chat/completions",
        headers={"Authorization": "Bearer sk-bench", "Content-Type": "application/json"},
        json=body,
        guarded=False,
    )


async def gateway_path_cpu_us(*, base_url: str, body: dict, direct: bool) -> float:
    """Microseconds of CPU per `upstream_call` over one batch, on a fresh client."""
    request = _request(base_url, body)
    adapter = get_adapter("openai_chat")
    http.get_http_client()
    if not direct:
        http._direct_clients.clear()  # the client stays; the call goes through httpx's objects
    try:
        start = time.process_time()
        for _ in range(BATCH):
            await http.upstream_call(
                adapter=adapter, request=request, model_id="gpt-4o-mini", timeout=5
            )
        return (time.process_time() - start) / BATCH * 1e6
    finally:
        await http.close_http_client()


async def aiohttp_session_cpu_us(*, base_url: str, body: dict) -> float:
    """The same calls straight through an aiohttp session, as the direct path made them before
    (no redirects, no decompression, a per-read timeout), and the answer parsed likewise."""
    request = _request(base_url, body)
    adapter = get_adapter("openai_chat")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=5)
    async with aiohttp.ClientSession(auto_decompress=False, trust_env=False) as session:
        start = time.process_time()
        for _ in range(BATCH):
            async with session.post(
                request.url,
                headers=request.headers,
                data=orjson.dumps(request.json),
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                payload = orjson.loads(await response.read())
            adapter.parse_response(payload=payload, model="gpt-4o-mini")
        return (time.process_time() - start) / BATCH * 1e6


async def main(base_url: str) -> None:
    for name in ("tiny", "rag", "conversation"):
        body = orjson.loads(workloads.body(workload=name, mode="plain", model="gpt-4o-mini"))
        through_httpx, session, direct = [], [], []
        for _ in range(ROUNDS):
            through_httpx.append(
                await gateway_path_cpu_us(base_url=base_url, body=body, direct=False)
            )
            session.append(await aiohttp_session_cpu_us(base_url=base_url, body=body))
            direct.append(await gateway_path_cpu_us(base_url=base_url, body=body, direct=True))
        print(
            f"{name}: httpx client {min(through_httpx):.0f} us, aiohttp session "
            f"{min(session):.0f} us, direct {min(direct):.0f} us "
            f"({min(direct) / min(session):.2f}x the aiohttp session)"
        )


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1]))
