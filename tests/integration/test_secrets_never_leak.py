"""No key material leaves the gateway, whatever an upstream does.

For each wire format (OpenAI Chat, Anthropic Messages, Gemini) and each forced failure (401,
401/404/500 whose body echoes the request's key, 404, 429, 500, a timeout, an error event
mid-stream that echoes it), with the platform
key and with the tenant's own (BYOK) key: neither key, nor the tenant's `tg_` key, nor a telling
fragment of any of them appears in the response body or headers the client gets, in any log
record (every logger at DEBUG, the server thread included), in the usage event (attempts, route
reason, every stored field), in audit rows, or in what the billing tasks return. Keys go upstream
only in headers: Gemini's in `x-goog-api-key`, never in the URL.
"""

import logging

import pytest
from django.apps import apps
from django.forms.models import model_to_dict

from tests.integration.conftest import MESSAGES, PLATFORM_KEYS, settle_events
from tests.support.mock_upstreams import (
    AuthError,
    EchoKey,
    NotFound,
    RateLimited,
    ServerError,
    Slow,
)

WIRES = {  # wire format -> (provider slug, model served in that format)
    "openai_chat": ("openai", "openai/gpt-4o-mini"),
    "anthropic_messages": ("anthropic", "anthropic/claude-haiku-4-5"),
    "gemini": ("google", "google/gemini-2.5-flash"),
}
BYOK_KEYS = {  # each in its provider's shape, so redaction by shape is tested too
    "openai": "sk-byok-tenant-openai-5c7e9a1b3d2f",
    "anthropic": "sk-ant-byok-tenant-4e8b2a6c9d1f",
    "google": "AIzaByokTenantGemini7f3a9c1e5b",
}
OPAQUE_BYOK_KEY = "self-hosted-opaque-secret-8d2f"  # a shape no pattern knows
FAILURES = {
    "401": lambda: AuthError(401),
    "401 echoing the key": lambda: EchoKey(401),
    "404": NotFound,
    "404 echoing the key": lambda: EchoKey(404),
    "429": lambda: RateLimited(retry_after=None),
    "500": lambda: ServerError(500),
    "500 echoing the key": lambda: EchoKey(500),
    "timeout": lambda: Slow(1.5),
}
EXPECTED_STATUS = {"404": {400}, "404 echoing the key": {400, 502}, "timeout": {504}}


def _fragments(secret: str) -> list[str]:
    """The key and the parts of it a partial echo would show (OpenAI's shows the first 8
    characters). A tenant key's first 11 characters are its visible prefix, public by design."""
    head = [] if secret.startswith("tg_") else [secret[:8]]
    return [secret, secret[11:21], secret[-10:], *head]


def _audit_rows() -> list[str]:
    try:
        model = apps.get_model("tenants", "AuditEntry")
    except LookupError:
        return []
    return [str(row) for row in model.objects.values()]


def _task_outputs() -> list[str]:
    """The billing tasks run on what the gateway recorded: their results and any error."""
    from billing.tasks import ingest_usage, rollup_daily

    outputs = []
    for task in (ingest_usage, rollup_daily):
        result = task.apply()
        outputs += [repr(result.result), str(result.traceback or "")]
    return outputs


def _everything_said(response, caplog) -> str:
    events = settle_events(1)
    parts = [response.text, str(dict(response.headers)), caplog.text]
    parts += [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    parts += [str(model_to_dict(e)) + str(e.attempts) + e.route_reason for e in events]
    parts += _audit_rows()
    parts += _task_outputs()
    return "\n".join(parts)


def _assert_no_key_material(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        for fragment in _fragments(secret):
            assert fragment not in text, f"{fragment!r} leaked"


def _use_byok(gw, provider_slug: str, api_key: str) -> None:
    from llm.models import Provider
    from tenants.services import credential_set

    credential_set(
        tenant=gw.tenant,
        provider=Provider.objects.get(slug=provider_slug),
        api_key=api_key,
        base_url=gw.upstreams[provider_slug].base_url,
    )
    gw.set_config(use_byok=True)


def _all_secrets(gw) -> list[str]:
    return [*PLATFORM_KEYS.values(), *BYOK_KEYS.values(), OPAQUE_BYOK_KEY, gw.secret]


@pytest.fixture
def leaky(gw, settings, caplog):
    """The gateway with one model and no retries, every logger at DEBUG."""
    settings.TOLLGATE_UPSTREAM_TIMEOUT_SECONDS = 0.5
    caplog.set_level(logging.DEBUG)
    gw.set_config(fallback_models=[], params={"max_retries": 0})
    return gw


@pytest.mark.parametrize("key_source", ["platform", "byok"])
@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("wire", list(WIRES))
def test_a_failing_upstream_leaks_no_key(leaky, caplog, wire, failure, key_source):
    provider, model = WIRES[wire]
    leaky.set_config(primary_model=model)
    if key_source == "byok":
        _use_byok(leaky, provider, BYOK_KEYS[provider])
    upstream = leaky.upstreams[provider]
    upstream.script(FAILURES[failure]())

    response = leaky.post({"model": "auto", "messages": MESSAGES})

    assert response.status_code in EXPECTED_STATUS.get(failure, {502}), response.text
    assert response.json()["error"]["code"] in (
        "invalid_request",
        "upstream_error",
        "upstream_timeout",
    )
    [sent] = upstream.requests
    used = BYOK_KEYS[provider] if key_source == "byok" else PLATFORM_KEYS[_env(provider)]
    assert sent.api_key == used  # the failure happened with the key we guard
    _assert_no_key_material(_everything_said(response, caplog), _all_secrets(leaky))


@pytest.mark.parametrize("wire", list(WIRES))
def test_a_stream_whose_upstream_echoes_the_key_leaks_nothing(leaky, caplog, wire):
    provider, model = WIRES[wire]
    leaky.set_config(primary_model=model)
    _use_byok(leaky, provider, BYOK_KEYS[provider])
    leaky.upstreams[provider].script(EchoKey(401))
    response = leaky.post({"model": "auto", "stream": True, "messages": MESSAGES})
    assert response.status_code == 502
    _assert_no_key_material(_everything_said(response, caplog), _all_secrets(leaky))


@pytest.mark.parametrize("key", ["shaped", "opaque"])
@pytest.mark.parametrize("wire", list(WIRES))
def test_an_error_event_mid_stream_that_echoes_the_key_leaks_nothing(leaky, caplog, wire, key):
    """After the first byte the error reaches the client as an SSE event: redacted too."""
    provider, model = WIRES[wire]
    leaky.set_config(primary_model=model)
    _use_byok(leaky, provider, BYOK_KEYS[provider] if key == "shaped" else OPAQUE_BYOK_KEY)
    leaky.upstreams[provider].script(EchoKey(mid_stream=True))
    response = leaky.post({"model": "auto", "stream": True, "messages": MESSAGES})
    assert response.status_code == 200
    assert "The upstream stream failed" in response.text
    _assert_no_key_material(_everything_said(response, caplog), _all_secrets(leaky))


def test_an_echoed_key_of_no_known_shape_is_redacted_too(leaky, caplog):
    """A self-hosted model's key may look like anything: the gateway masks the very key it
    sent, not only what looks like one."""
    _use_byok(leaky, "openai", OPAQUE_BYOK_KEY)
    leaky.upstreams["openai"].script(EchoKey(401))
    response = leaky.post({"model": "auto", "messages": MESSAGES})
    assert response.status_code == 502
    assert "***" in response.json()["error"]["message"]  # what was there is still visible
    _assert_no_key_material(_everything_said(response, caplog), _all_secrets(leaky))


@pytest.mark.parametrize("key_source", ["platform", "byok"])
def test_gemini_keys_travel_in_a_header_never_in_the_url(leaky, key_source):
    leaky.set_config(primary_model="google/gemini-2.5-flash")
    expected = PLATFORM_KEYS["GEMINI_API_KEY"]
    if key_source == "byok":
        _use_byok(leaky, "google", BYOK_KEYS["google"])
        expected = BYOK_KEYS["google"]
    for body in (
        {"model": "auto", "messages": MESSAGES},
        {"model": "auto", "messages": MESSAGES, "stream": True},
    ):
        assert leaky.post(body).status_code == 200
    upstream = leaky.upstreams["google"]
    assert len(upstream.requests) == 2
    for sent in upstream.requests:
        assert sent.headers["x-goog-api-key"] == expected
        assert "key" not in sent.query
        assert expected not in sent.path
        assert "authorization" not in sent.headers


def _env(provider: str) -> str:
    return {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(
        provider, "GEMINI_API_KEY"
    )
