"""The connect-time SSRF guard and the no-redirect rule, on both transports (aiohttp, httpx):
a guarded request is resolved once, every address is checked, the socket goes to a checked
address with the original Host and TLS server name, and nothing is sent anywhere else."""

import httpx
import pytest

from llm.providers import http, upstream_guard
from llm.providers.aiohttp_transport import AiohttpTransport
from llm.providers.contract import ProviderError, UpstreamRequest
from llm.providers.registry import get_adapter
from llm.providers.upstream_guard import (
    GUARD_EXTENSION,
    GuardedHTTPTransport,
    GuardedResolver,
    SsrfGuardTransport,
    UpstreamAddressRefused,
)
from tests.support.network_fakes import TlsServer, counting_listener, install_fake_dns, redirector

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
TRANSPORTS = ["aiohttp", "httpx"]


@pytest.fixture
def strict(settings):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = False


@pytest.fixture
def dns(monkeypatch):
    return install_fake_dns(monkeypatch)


@pytest.fixture(params=TRANSPORTS)
def transport_kind(request, settings):
    settings.TOLLGATE_HTTP_TRANSPORT = request.param
    return request.param


def chat_request(url: str, *, guarded: bool) -> UpstreamRequest:
    return UpstreamRequest(
        method="POST",
        url=url,
        headers={
            "Authorization": "Bearer sk-tenant-0000000000",
            "Content-Type": "application/json",
        },
        json=BODY,
        guarded=guarded,
    )


async def call(url: str, *, guarded: bool, stream: bool = False):
    adapter = get_adapter("openai_chat")
    request = chat_request(url, guarded=guarded)
    try:
        if stream:
            response = await http.upstream_stream_open(adapter=adapter, request=request, timeout=5)
            await response.aclose()
            return response
        return await http.upstream_call(
            adapter=adapter, request=request, model_id="gpt-4o-mini", timeout=5
        )
    finally:
        await http.close_http_client()


async def test_a_name_resolving_to_loopback_is_never_connected_to(strict, dns, transport_kind):
    dns.answer("byok.example.test", "127.0.0.1")
    with counting_listener() as listener:
        url = f"https://byok.example.test:{listener.port}/v1/chat/completions"
        with pytest.raises(UpstreamAddressRefused) as refused:
            await call(url, guarded=True)
        assert listener.connections == 0
        # Control: the same listener does see a client that is not stopped by the guard.
        with pytest.raises(httpx.TransportError):
            await call(f"https://127.0.0.1:{listener.port}/v1/chat/completions", guarded=False)
        assert listener.connections >= 1
    assert dns.lookups == ["byok.example.test"]
    error = http.transport_error(refused.value, timeout=5)
    assert error.kind == "connection" and error.retryable
    assert error.message == (
        "upstream address refused: byok.example.test resolves to a loopback address"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"])
async def test_internal_ip_literals_are_refused_before_connecting(strict, transport_kind, host):
    with counting_listener() as listener:
        with pytest.raises(UpstreamAddressRefused, match="loopback"):
            await call(f"https://{host}:{listener.port}/v1/chat/completions", guarded=True)
        assert listener.connections == 0


async def test_plain_http_is_refused_at_connect_time_too(strict, dns, transport_kind):
    # (Loopback answers only, here and wherever a request may go out: no test sends anything
    # past this machine, even when the code under test is broken.)
    dns.answer("byok.example.test", "127.0.0.1")
    with counting_listener() as listener:
        with pytest.raises(UpstreamAddressRefused, match="must use https"):
            await call(f"http://byok.example.test:{listener.port}/v1", guarded=True)
        assert listener.connections == 0
    assert dns.lookups == []  # refused from the URL alone, before any lookup


async def test_the_allow_setting_switches_the_guard_off(settings, transport_kind):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = True
    with counting_listener() as listener:
        with pytest.raises(httpx.TransportError) as failed:
            await call(f"https://127.0.0.1:{listener.port}/v1/chat/completions", guarded=True)
        assert not isinstance(failed.value, UpstreamAddressRefused)
        assert listener.connections >= 1


def guarded_client(kind: str, server: TlsServer) -> httpx.AsyncClient:
    if kind == "aiohttp":
        guarded = AiohttpTransport(resolver=GuardedResolver, ssl_context=server.client_context)
    else:
        guarded = GuardedHTTPTransport(limits=httpx.Limits(), ssl_context=server.client_context)
    # Nothing may take the trusted way here: it is a transport that cannot connect anywhere.
    trusted = httpx.MockTransport(lambda request: pytest.fail("sent unguarded"))
    return httpx.AsyncClient(transport=SsrfGuardTransport(trusted=trusted, guarded=guarded))


@pytest.fixture
def only_127_0_0_1_is_public(monkeypatch):
    """The test servers live on 127.0.0.1: let the guard take that one address for public."""

    def refusal(address):
        return None if address == "127.0.0.1" else "a test-internal address"

    monkeypatch.setattr(upstream_guard, "address_refusal", refusal)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_connects_to_the_checked_address_with_the_original_host_and_sni(
    strict, dns, only_127_0_0_1_is_public, tmp_path, kind
):
    # The first answer is checked; a second lookup would get an address nothing listens on.
    dns.sequence("rebind.example.test", ["127.0.0.1"], ["127.0.0.2"])
    server = TlsServer(hostname="rebind.example.test", directory=tmp_path)
    with server.running():
        async with guarded_client(kind, server) as client:
            for _ in range(2):
                response = await client.get(
                    f"https://rebind.example.test:{server.port}/v1/models",
                    extensions={GUARD_EXTENSION: True},
                )
                assert response.status_code == 200 and response.json() == {"ok": True}
    assert dns.lookups == ["rebind.example.test"]  # resolved once, connected to that answer
    assert server.server_names == ["rebind.example.test"]  # SNI, and the certificate checked
    assert server.hosts == [f"rebind.example.test:{server.port}"] * 2


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_one_internal_address_among_checked_ones_refuses_the_host(
    strict, dns, only_127_0_0_1_is_public, tmp_path, kind
):
    dns.answer("mixed.example.test", "127.0.0.1", "127.0.0.2")
    server = TlsServer(hostname="mixed.example.test", directory=tmp_path)
    with server.running():
        async with guarded_client(kind, server) as client:
            with pytest.raises(UpstreamAddressRefused, match="test-internal"):
                await client.get(
                    f"https://mixed.example.test:{server.port}/v1/models",
                    extensions={GUARD_EXTENSION: True},
                )
    assert server.server_names == [] and server.hosts == []


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_redirect_is_an_upstream_error_and_never_followed(
    openai_upstream, transport_kind, stream
):
    internal = f"{openai_upstream.base_url}/chat/completions"
    with redirector(internal) as base_url, pytest.raises(ProviderError) as failed:
        await call(f"{base_url}/chat/completions", guarded=False, stream=stream)
    assert openai_upstream.requests == []
    error = failed.value
    assert error.status == 302 and error.kind == "malformed" and error.retryable
    assert "redirect" in error.message and internal not in error.message
