"""The real ASGI app under uvicorn on 127.0.0.1 (a background thread of the pytest process),
a small catalog of three providers pointed at the mock upstreams, a tenant with a key and a
default routing config. Tests use `transactional_db` so the server thread sees committed rows.
"""

import json
import socket
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import httpx
import openai
import pytest
import uvicorn
from django.conf import settings
from django.db import OperationalError

from core.uvicorn_protocol import HTTP_PROTOCOL

PLATFORM_KEYS = {
    "OPENAI_API_KEY": "sk-platform-openai-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-platform-0123456789abcdef",
    "GEMINI_API_KEY": "AIzaPlatformGemini0123456789abcdef",
}

PRICES = {
    # qualified id: (input, output, cached input) per 1M tokens
    "openai/gpt-4o-mini": ("0.15", "0.60", "0.075"),
    "openai/gpt-4.1": ("2.00", "8.00", "0.50"),
    "anthropic/claude-haiku-4-5": ("1.00", "5.00", "0.10"),
    "google/gemini-2.5-flash": ("0.30", "2.50", "0.075"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gateway_server():
    yield from _serve("config.asgi:application")


@pytest.fixture(scope="session")
def django_handler_server():
    """/v1 through Django's full handler and the Django views (config.asgi sends /v1 to the bare
    ASGI endpoints): both paths must behave alike."""
    from config.asgi import django_application, lifespan

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":  # Django's handler has none; close our clients anyway
            return await lifespan(scope, receive, send)
        return await django_application(scope, receive, send)

    yield from _serve(app)


def _serve(app):
    from config.asgi import application  # noqa: F401  (Django set up before serving)

    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=HTTP_PROTOCOL, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _fresh_gateway_state():
    from core.shared_state import shared_state_clear
    from gateway.services import breaker
    from gateway.services import snapshots as auth_cache

    def clear():
        from billing.services.usage import usage_buffer_discard

        usage_buffer_discard()
        auth_cache.snapshots_clear()
        breaker.breaker_reset_local()
        shared_state_clear()
        if settings.REDIS_URL:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL)
            client.flushdb()
            client.close()

    clear()
    yield
    clear()


@dataclass
class Gateway:
    url: str
    tenant: object
    key: object
    secret: str
    config: object
    upstreams: dict

    def client(self, **kwargs) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1", api_key=self.secret, max_retries=0, **kwargs
        )

    def post(self, body, *, headers=None, secret=None, timeout=30.0) -> httpx.Response:
        merged = {"Authorization": f"Bearer {secret or self.secret}"}
        merged.update(headers or {})
        if isinstance(body, bytes | str):
            return httpx.post(
                f"{self.url}/v1/chat/completions", content=body, headers=merged, timeout=timeout
            )
        return httpx.post(
            f"{self.url}/v1/chat/completions", json=body, headers=merged, timeout=timeout
        )

    def stream_and_leave(self, *, content: str) -> None:
        """A client that leaves mid-stream: a streaming request over a bare socket, closed as
        soon as the first chunk arrives."""
        host, port = self.url.removeprefix("http://").split(":")
        body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": content}]}
        payload = json.dumps(body).encode()
        request = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {self.secret}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        sock = socket.create_connection((host, int(port)))
        sock.sendall(request)
        received = b""
        while b"data:" not in received:
            received += sock.recv(4096)
        sock.close()

    def set_config(self, **fields) -> None:
        for name, value in fields.items():
            setattr(self.config, name, value)
        self.config.save()


def wait_events(count: int, timeout: float = 10.0) -> list:
    """Drain the usage buffer until `count` events are stored; return them (oldest first)."""
    from billing.models import UsageEvent
    from billing.services.usage import usage_buffer_flush, usage_events_ingest

    deadline = time.monotonic() + timeout
    while True:
        try:
            usage_buffer_flush()
            usage_events_ingest()
        except OperationalError:  # in-memory SQLite: the server thread is writing right now
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        events = list(UsageEvent.objects.order_by("created_at", "id"))
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def settle_events(count: int) -> list:
    """Like wait_events, then wait a little longer so that an extra event would show up too."""
    wait_events(count)
    time.sleep(0.3)
    return wait_events(count, timeout=0.1)


def cost(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> Decimal:
    price_in, price_out, price_cached = (Decimal(p) for p in PRICES[model])
    total = (
        (input_tokens - cached) * price_in + cached * price_cached + output_tokens * price_out
    ) / Decimal(1_000_000)
    return total.quantize(Decimal("0.0000000001"))


@pytest.fixture
def mock_catalog(transactional_db):
    from llm.models import LLMModel, Provider

    providers = {
        "openai": Provider.objects.create(
            slug="openai",
            name="OpenAI",
            wire_format="openai_chat",
            base_url="https://api.openai.com/v1",
            auth_style="bearer",
            api_key_env="OPENAI_API_KEY",
        ),
        "anthropic": Provider.objects.create(
            slug="anthropic",
            name="Anthropic",
            wire_format="anthropic_messages",
            base_url="https://api.anthropic.com",
            auth_style="x_api_key",
            api_key_env="ANTHROPIC_API_KEY",
        ),
        "google": Provider.objects.create(
            slug="google",
            name="Google",
            wire_format="gemini",
            base_url="https://generativelanguage.googleapis.com/v1beta",
            auth_style="x_goog_api_key",
            api_key_env="GEMINI_API_KEY",
        ),
    }
    for qualified, (price_in, price_out, price_cached) in PRICES.items():
        slug, model_id = qualified.split("/", 1)
        LLMModel.objects.create(
            provider=providers[slug],
            model_id=model_id,
            context_window=128000,
            max_output_tokens=8192,
            input_price_per_1m=Decimal(price_in),
            output_price_per_1m=Decimal(price_out),
            cached_input_price_per_1m=Decimal(price_cached),
            capabilities=["tools", "vision", "json_mode", "streaming"],
        )
    return providers


@pytest.fixture
def gw(
    gateway_server,
    mock_catalog,
    monkeypatch,
    openai_upstream,
    anthropic_upstream,
    gemini_upstream,
):
    from llm.models import RoutingConfig
    from tenants.services import api_key_create, tenant_create

    for name, value in PLATFORM_KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TOLLGATE_OPENAI_BASE_URL", openai_upstream.base_url)
    monkeypatch.setenv("TOLLGATE_ANTHROPIC_BASE_URL", anthropic_upstream.base_url)
    monkeypatch.setenv("TOLLGATE_GOOGLE_BASE_URL", gemini_upstream.base_url)
    tenant = tenant_create(slug="acme", name="Acme Corp")
    key, secret = api_key_create(tenant=tenant, scopes=["inference"])
    config = RoutingConfig.objects.create(
        tenant=tenant,
        name="default",
        is_default=True,
        primary_model="openai/gpt-4o-mini",
        fallback_models=["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"],
    )
    return Gateway(
        url=gateway_server,
        tenant=tenant,
        key=key,
        secret=secret,
        config=config,
        upstreams={
            "openai": openai_upstream,
            "anthropic": anthropic_upstream,
            "google": gemini_upstream,
        },
    )


MESSAGES = [{"role": "user", "content": "Say hello"}]
