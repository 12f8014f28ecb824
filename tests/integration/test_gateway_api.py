"""The /v1 contract end to end: the official openai SDK against the real ASGI app and mock
upstreams of each wire format (plain and streaming), headers, errors, metering, secrets."""

import logging
from decimal import Decimal

import httpx
import openai
import pytest

from tests.integration.conftest import MESSAGES, PLATFORM_KEYS, cost, settle_events
from tests.support.mock_upstreams import Ok

CONTRACT_HEADERS = (
    "x-tollgate-request-id",
    "x-tollgate-model",
    "x-tollgate-provider",
    "x-tollgate-cost-usd",
    "x-tollgate-fallback",
    "x-tollgate-attempts",
    "x-tollgate-cache",
)

FORMATS = [
    ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
    ("anthropic/claude-haiku-4-5", "anthropic", "claude-haiku-4-5"),
    ("google/gemini-2.5-flash", "google", "gemini-2.5-flash"),
]


@pytest.mark.parametrize(("model", "provider", "model_id"), FORMATS)
def test_plain_completion_through_the_sdk(gw, model, provider, model_id):
    gw.upstreams[provider].script(Ok(content="Hi there", input_tokens=1200, output_tokens=345))
    raw = gw.client().chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, max_tokens=500
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 1200
    assert completion.usage.completion_tokens == 345
    for name in CONTRACT_HEADERS:
        assert name in raw.headers, name
    assert raw.headers["x-tollgate-model"] == model
    assert raw.headers["x-tollgate-provider"] == provider
    assert raw.headers["x-tollgate-fallback"] == "false"
    assert raw.headers["x-tollgate-attempts"] == "1"
    assert raw.headers["x-tollgate-cache"] == "miss"
    expected = cost(model, 1200, 345)
    assert Decimal(raw.headers["x-tollgate-cost-usd"]) == expected
    upstream = gw.upstreams[provider].requests
    assert len(upstream) == 1
    assert model_id in (upstream[0].path + str(upstream[0].json))

    [event] = settle_events(1)
    assert event.request_id == raw.headers["x-tollgate-request-id"]
    assert event.status == "success"
    assert event.model == model
    assert event.provider == provider
    assert event.requested_model == model
    assert event.key_source == "platform"
    assert (event.input_tokens, event.output_tokens, event.cached_tokens) == (1200, 345, 0)
    assert event.cost_usd == expected
    assert event.api_key_id == gw.key.pk
    assert event.config_id == gw.config.pk
    assert event.fallback is False
    assert event.attempts[0]["model"] == model and event.attempts[0]["status"] == "ok"
    assert "requested" in event.route_reason


@pytest.mark.parametrize(("model", "provider", "model_id"), FORMATS)
def test_streaming_completion_through_the_sdk(gw, model, provider, model_id):
    gw.upstreams[provider].script(
        Ok(content="one two three four", input_tokens=40, output_tokens=4, cached_tokens=10)
    )
    with gw.client().chat.completions.with_streaming_response.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        headers = response.headers
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 40
    assert chunks[-1].usage.completion_tokens == 4
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 10
    for name in CONTRACT_HEADERS:
        assert name in headers, name
    assert headers["x-tollgate-model"] == model
    assert headers["content-type"].startswith("text/event-stream")

    [event] = settle_events(1)
    assert event.status == "success"
    assert (event.input_tokens, event.output_tokens, event.cached_tokens) == (40, 4, 10)
    assert event.cost_usd == cost(model, 40, 4, cached=10)


def test_stream_without_include_usage_has_no_usage_chunk_and_ends_with_done(gw):
    response = gw.post({"model": "auto", "messages": MESSAGES, "stream": True})
    assert response.status_code == 200
    frames = [f for f in response.text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    assert all('"usage"' not in frame for frame in frames)
    # upstream still asked for usage so the request is metered
    assert gw.upstreams["openai"].requests[0].json["stream_options"] == {"include_usage": True}
    [event] = settle_events(1)
    assert event.output_tokens == 5


def test_models_lists_models_with_a_usable_key_and_the_configs(gw, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    listing = gw.client().models.list()
    ids = [m.id for m in listing.data]
    assert "auto" in ids and "default" in ids
    assert "openai/gpt-4o-mini" in ids and "anthropic/claude-haiku-4-5" in ids
    assert "google/gemini-2.5-flash" not in ids


def test_missing_and_wrong_keys_are_401(gw):
    for auth in (None, "Bearer tg_not-a-real-key-000000000000000000000000", "Basic abc"):
        headers = {"Authorization": auth} if auth else {}
        response = httpx.post(
            f"{gw.url}/v1/chat/completions",
            json={"model": "auto", "messages": MESSAGES},
            headers=headers,
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert "x-tollgate-request-id" in response.headers
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gw.url}/v1", api_key="tg_wrong", max_retries=0).models.list()


def test_revoked_key_is_refused_at_once(gw):
    from tenants.services import api_key_revoke

    assert gw.post({"model": "auto", "messages": MESSAGES}).status_code == 200
    api_key_revoke(key=gw.key)
    assert gw.post({"model": "auto", "messages": MESSAGES}).status_code == 401


def test_key_without_inference_scope_is_403(gw):
    from tenants.services import api_key_create

    _, secret = api_key_create(tenant=gw.tenant, scopes=["read"])
    response = gw.post({"model": "auto", "messages": MESSAGES}, secret=secret)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert gw.upstreams["openai"].requests == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b"",
        {"model": "auto"},
        {"model": "auto", "messages": []},
        {"model": "auto", "messages": "hello"},
        {"model": "auto", "messages": [{"content": "no role"}]},
        {"messages": MESSAGES},
        {"model": "auto", "messages": MESSAGES, "max_tokens": -3},
        {"model": "auto", "messages": MESSAGES, "stream": "yes"},
        {"model": "auto", "messages": MESSAGES, "temperature": "hot"},
        {"model": "no-such-model", "messages": MESSAGES},
        {"model": "auto", "messages": MESSAGES, "metadata": "not an object"},
    ],
)
def test_bad_input_is_400_never_500(gw, body):
    response = gw.post(body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["type"] == "invalid_request_error"
    assert gw.upstreams["openai"].requests == []


def test_bad_priority_header_is_400(gw):
    response = gw.post(
        {"model": "auto", "messages": MESSAGES}, headers={"X-Tollgate-Priority": "fastest"}
    )
    assert response.status_code == 400


def test_request_cannot_redirect_the_upstream_or_set_its_headers(gw):
    body = {
        "model": "auto",
        "messages": MESSAGES,
        "base_url": "http://169.254.169.254/latest",
        "api_base": "http://evil.example/v1",
        "extra_headers": {"X-Evil": "1", "Authorization": "Bearer stolen"},
        "extra_query": {"key": "x"},
        "metadata": {"base_url": "http://evil.example", "task": "chat"},
        "api_key": "sk-attacker-chosen-key-123456",
        "headers": {"X-Evil": "1"},
    }
    response = gw.post(
        body,
        headers={"X-Evil": "1", "X-Api-Key": "sk-attacker-000000000", "Host-Override": "evil"},
    )
    assert response.status_code == 200
    [request] = gw.upstreams["openai"].requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {PLATFORM_KEYS['OPENAI_API_KEY']}"
    assert "x-evil" not in request.headers
    assert "x-api-key" not in request.headers
    for field in ("base_url", "api_base", "extra_headers", "extra_query", "api_key", "headers"):
        assert field not in request.json
    assert "evil" not in str(request.json)


def test_config_params_apply_under_the_body(gw):
    gw.set_config(params={"temperature": 0.2, "max_tokens": 64})
    assert gw.post({"model": "auto", "messages": MESSAGES, "temperature": 0.9}).status_code == 200
    sent = gw.upstreams["openai"].requests[0].json
    assert sent["temperature"] == 0.9
    assert sent.get("max_tokens", sent.get("max_completion_tokens")) == 64


def test_byok_key_and_base_url_are_used_for_byok_configs(gw, openai_upstream, monkeypatch):
    from llm.models import Provider
    from tenants.services import credential_set

    # the platform URL points nowhere: only the credential's own base URL may be used
    monkeypatch.setenv("TOLLGATE_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    credential = credential_set(
        tenant=gw.tenant,
        provider=Provider.objects.get(slug="openai"),
        api_key="sk-tenant-own-key-abcdef123456",
        base_url=openai_upstream.base_url,
    )
    gw.set_config(use_byok=True)
    response = gw.post({"model": "auto", "messages": MESSAGES})
    assert response.status_code == 200
    [request] = openai_upstream.requests
    assert request.headers["authorization"] == "Bearer sk-tenant-own-key-abcdef123456"
    [event] = settle_events(1)
    assert event.key_source == "byok"
    assert "sk-tenant-own-key" not in response.text + str(dict(response.headers))
    # Ingestion notes the key's health from the attempt log (README "Admin web app").
    assert event.attempts[-1]["credential_id"] == credential.pk
    credential.refresh_from_db()
    assert credential.last_success_at == event.created_at


def test_no_secret_in_responses_headers_or_logs(gw, caplog):
    from llm.models import Provider
    from tenants.services import credential_set
    from tests.support.mock_upstreams import AuthError, ServerError

    caplog.set_level(logging.DEBUG)
    credential_set(
        tenant=gw.tenant,
        provider=Provider.objects.get(slug="anthropic"),
        api_key="sk-ant-byok-secret-0987654321",
        base_url=gw.upstreams["anthropic"].base_url,
    )
    gw.set_config(use_byok=True)
    gw.upstreams["openai"].script(AuthError())
    gw.upstreams["anthropic"].script(AuthError())
    gw.upstreams["google"].script(ServerError(500), ServerError(500))
    texts = []
    failed = gw.post({"model": "auto", "messages": MESSAGES})
    assert failed.status_code == 502
    texts.append(failed.text + str(dict(failed.headers)))
    ok = gw.post({"model": "auto", "messages": MESSAGES, "stream": True})
    texts.append(ok.text + str(dict(ok.headers)))
    bad = gw.post(b"{", secret=gw.secret)
    texts.append(bad.text + str(dict(bad.headers)))
    events = settle_events(3)
    texts.extend(str(e.attempts) + e.route_reason for e in events)
    texts.append(caplog.text)
    secrets = [*PLATFORM_KEYS.values(), gw.secret, "sk-ant-byok-secret-0987654321"]
    for text in texts:
        for secret in secrets:
            assert secret not in text
            assert secret[-12:] not in text
    assert "upstream_error" in failed.text
    assert "openai/gpt-4o-mini" in failed.json()["error"]["message"]


def test_one_log_line_per_request_with_id_tenant_model_status(gw, caplog):
    caplog.set_level(logging.INFO, logger="tollgate.gateway")
    response = gw.post({"model": "auto", "messages": MESSAGES})
    request_id = response.headers["x-tollgate-request-id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "tollgate.gateway"]
    assert len(lines) == 1
    assert request_id in lines[0] and "tenant=acme" in lines[0]
    assert "openai/gpt-4o-mini" in lines[0] and "status=200" in lines[0]
    assert "Say hello" not in lines[0]


def test_last_used_at_is_written_off_the_hot_path(gw):
    import time

    from gateway.services.snapshots import last_used_flush

    assert gw.post({"model": "auto", "messages": MESSAGES}).status_code == 200
    deadline = time.monotonic() + 5
    gw.key.refresh_from_db()
    while gw.key.last_used_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
        last_used_flush()
        gw.key.refresh_from_db()
    assert gw.key.last_used_at is not None
