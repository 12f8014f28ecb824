"""Model access through the real gateway: a key's allowed models and configs, the tenant's plan,
keyless local providers (README "Model access")."""

from decimal import Decimal

import httpx
import pytest

from gateway.services.route_preview import route_preview
from gateway.services.snapshots import snapshots_clear
from llm.models import LLMModel, Provider
from tenants.services import api_key_access_set, api_key_create, tenant_access_set
from tests.integration.conftest import MESSAGES
from tests.support.mock_upstreams import ServerError

BODY = {"model": "auto", "messages": MESSAGES}


def _catalog_ids(gw, secret: str) -> set[str]:
    response = httpx.get(
        f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["data"] if m["owned_by"] != "tollgate"}


def _route_ids(gw, secret: str) -> set[str]:
    response = httpx.get(
        f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    return {m["id"] for m in response.json()["data"] if m["owned_by"] == "tollgate"}


def _assert_not_allowed(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "model_not_allowed"


def test_key_limited_to_one_model_gets_403_for_another_and_lists_only_it(gw):
    _, secret = api_key_create(
        tenant=gw.tenant, scopes=["inference"], allowed_models=["openai/gpt-4o-mini"]
    )
    _assert_not_allowed(
        gw.post({"model": "anthropic/claude-haiku-4-5", "messages": MESSAGES}, secret=secret)
    )
    _assert_not_allowed(gw.post({"model": "gpt-4.1", "messages": MESSAGES}, secret=secret))
    ok = gw.post({"model": "gpt-4o-mini", "messages": MESSAGES}, secret=secret)
    assert ok.status_code == 200 and ok.headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    assert _catalog_ids(gw, secret) == {"openai/gpt-4o-mini"}
    assert len(_catalog_ids(gw, gw.secret)) > 1  # the tenant's other key is unrestricted
    assert sum(len(u.requests) for u in gw.upstreams.values()) == 1


def test_fallbacks_skip_models_the_key_may_not_use(gw):
    key, secret = api_key_create(tenant=gw.tenant, scopes=["inference"])
    api_key_access_set(key=key, allowed_models=["openai/gpt-4o-mini", "google/gemini-2.5-flash"])
    gw.upstreams["openai"].script(*[ServerError(500)] * 6)
    response = gw.post(BODY, secret=secret)
    assert response.status_code == 200, response.text
    assert response.headers["x-tollgate-model"] == "google/gemini-2.5-flash"
    assert response.headers["x-tollgate-fallback"] == "true"
    assert gw.upstreams["anthropic"].requests == []  # the config's first fallback, skipped


def test_all_fallbacks_disallowed_is_403_without_an_upstream_call(gw):
    _, secret = api_key_create(
        tenant=gw.tenant, scopes=["inference"], allowed_models=["openai/gpt-4.1"]
    )
    _assert_not_allowed(gw.post(BODY, secret=secret))  # auto: 4o-mini, haiku, flash
    assert sum(len(u.requests) for u in gw.upstreams.values()) == 0


def test_key_limited_to_configs_calls_them_only(gw):
    _, secret = api_key_create(tenant=gw.tenant, scopes=["inference"], allowed_configs=["other"])
    _assert_not_allowed(gw.post(BODY, secret=secret))  # auto is config "default"
    _assert_not_allowed(
        gw.post({"model": "openai/gpt-4o-mini", "messages": MESSAGES}, secret=secret)
    )
    assert _catalog_ids(gw, secret) == set()
    assert _route_ids(gw, secret) == set()
    api_key_access_set(key=gw.key, allowed_configs=["default"])
    assert gw.post(BODY).status_code == 200
    assert _route_ids(gw, gw.secret) == {"auto", "default"}


def test_tenant_plan_hides_a_provider_from_routing_listing_and_preview(gw):
    tenant_access_set(tenant=gw.tenant, allowed_providers=["openai", "google"])
    listed = _catalog_ids(gw, gw.secret)
    assert listed and not any(m.startswith("anthropic/") for m in listed)
    _assert_not_allowed(gw.post({"model": "anthropic/claude-haiku-4-5", "messages": MESSAGES}))
    gw.upstreams["openai"].script(*[ServerError(500)] * 6)
    response = gw.post(BODY)
    assert response.headers["x-tollgate-model"] == "google/gemini-2.5-flash"
    assert gw.upstreams["anthropic"].requests == []
    preview = route_preview(tenant=gw.tenant, body=BODY, headers={})
    assert preview["candidates"] == ["openai/gpt-4o-mini", "google/gemini-2.5-flash"]
    assert "anthropic/claude-haiku-4-5 (not allowed)" in preview["reason"]


def test_tenant_plan_of_models_narrows_within_providers(gw):
    tenant_access_set(
        tenant=gw.tenant, allowed_models=["gpt-4o-mini", "anthropic/claude-haiku-4-5"]
    )
    assert _catalog_ids(gw, gw.secret) == {"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"}
    _assert_not_allowed(gw.post({"model": "openai/gpt-4.1", "messages": MESSAGES}))


@pytest.fixture
def ollama(mock_catalog):
    provider = Provider.objects.create(
        slug="ollama",
        name="Ollama",
        wire_format="openai_chat",
        base_url="http://127.0.0.1:11434/v1",
        auth_style="none",
        api_key_env="",
    )
    LLMModel.objects.create(
        provider=provider,
        model_id="llama3.2",
        context_window=8192,
        max_output_tokens=2048,
        input_price_per_1m=Decimal(0),
        output_price_per_1m=Decimal(0),
    )
    return provider


def test_keyless_local_provider_is_hidden_unless_enabled(gw, ollama):
    assert "ollama/llama3.2" not in _catalog_ids(gw, gw.secret)
    _assert_not_allowed(gw.post({"model": "ollama/llama3.2", "messages": MESSAGES}))
    tenant_access_set(tenant=gw.tenant, local_providers=["ollama"])
    snapshots_clear()
    assert "ollama/llama3.2" in _catalog_ids(gw, gw.secret)


def test_count_tokens_refuses_a_model_the_key_may_not_use(gw):
    _, secret = api_key_create(
        tenant=gw.tenant, scopes=["inference"], allowed_models=["openai/gpt-4o-mini"]
    )
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Count me"}]}
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    refused = httpx.post(
        f"{gw.url}/v1/messages/count_tokens", json=body, headers=headers, timeout=10
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "error"
    assert refused.json()["error"]["type"] == "permission_error"
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert "claude-haiku-4-5" in refused.json()["error"]["message"]
    allowed = httpx.post(
        f"{gw.url}/v1/messages/count_tokens",
        json={**body, "model": "gpt-4o-mini"},
        headers=headers,
        timeout=10,
    )
    assert allowed.status_code == 200, allowed.text
    created = httpx.post(
        f"{gw.url}/v1/messages", json={**body, "max_tokens": 16}, headers=headers, timeout=10
    )
    assert created.status_code == 403, created.text
    assert created.json()["error"] == {
        "type": "permission_error",
        "message": created.json()["error"]["message"],
        "code": "model_not_allowed",
    }
    assert gw.upstreams["anthropic"].requests == []
