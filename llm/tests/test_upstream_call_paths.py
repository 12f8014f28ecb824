"""Which way a plain upstream call goes: straight through aiohttp when it is trusted and the
transport is aiohttp's, through the httpx client otherwise (httpx's transport, or a request the
SSRF guard must check: test_upstream_guard.py). Same answer either way."""

import httpx
import pytest

from llm.providers import http
from llm.providers.contract import UpstreamRequest
from llm.providers.registry import get_adapter
from tests.support.mock_upstreams import Ok


@pytest.fixture
def httpx_requests(monkeypatch):
    """Counts the httpx client's requests."""
    calls = []
    original = httpx.AsyncClient.request

    async def counting(self, *args, **kwargs):
        calls.append(args[:2])
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "request", counting)
    return calls


async def _call(base_url: str):
    request = UpstreamRequest(
        method="POST",
        url=f"{base_url}/chat/completions",
        headers={"Authorization": "Bearer sk-paths-0000000000", "Content-Type": "application/json"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        guarded=False,
    )
    try:
        return await http.upstream_call(
            adapter=get_adapter("openai_chat"), request=request, model_id="gpt-4o-mini", timeout=5
        )
    finally:
        await http.close_http_client()


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_trusted_plain_call_skips_httpx_only_on_aiohttp(
    kind, settings, openai_upstream, httpx_requests
):
    settings.TOLLGATE_HTTP_TRANSPORT = kind
    openai_upstream.script(Ok(content="either way", input_tokens=4, output_tokens=2))
    result = await _call(openai_upstream.base_url)
    assert result.body["choices"][0]["message"]["content"] == "either way"
    assert result.usage.input_tokens == 4 and result.usage.output_tokens == 2
    assert len(httpx_requests) == (0 if kind == "aiohttp" else 1)


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_trusted_stream_skips_httpx_only_on_aiohttp(kind, settings, openai_upstream):
    settings.TOLLGATE_HTTP_TRANSPORT = kind
    openai_upstream.script(Ok(content="streamed either way", chunk_delay=0.005))
    request = UpstreamRequest(
        method="POST",
        url=f"{openai_upstream.base_url}/chat/completions",
        headers={"Content-Type": "application/json"},
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": True,
        },
        guarded=False,
    )
    try:
        response = await http.upstream_stream_open(
            adapter=get_adapter("openai_chat"), request=request, timeout=5
        )
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
    finally:
        await http.close_http_client()
    assert isinstance(response, httpx.Response) == (kind == "httpx")
    assert b"streamed" in raw and raw.rstrip().endswith(b"data: [DONE]")
