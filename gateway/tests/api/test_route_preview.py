"""route/preview/: which model would serve a request, without calling any provider."""

import pytest

from llm.models import RoutingConfig
from tests.support.api import assert_error

URL = "/api/v1/route/preview/"


@pytest.fixture
def configs(tenant, other_tenant, small_catalog):
    RoutingConfig.objects.create(
        tenant=tenant,
        name="default",
        is_default=True,
        primary_model="openai/gpt-4o-mini",
        rules=[{"when": {"task": "code"}, "route": {"model": "openai/gpt-4.1"}}],
    )
    RoutingConfig.objects.create(
        tenant=other_tenant,
        name="default",
        is_default=True,
        primary_model="anthropic/claude-sonnet-4-5",
    )


def _preview(client, **extra):
    body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 100}
    return client.post(URL, body, format="json", **extra)


def test_owner_previews_with_own_config(owner_client, configs):
    response = _preview(owner_client)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == "openai/gpt-4o-mini" and body["config"] == "default"
    assert body["estimated_output_tokens"] == 100
    assert body["estimated_cost_usd"] and float(body["estimated_cost_usd"]) > 0
    coded = _preview(owner_client, HTTP_X_TOLLGATE_TASK="code").json()
    assert coded["model"] == "openai/gpt-4.1" and coded["rule_index"] == 0


def test_outsider_gets_its_own_routing(outsider_client, configs):
    assert _preview(outsider_client).json()["model"] == "anthropic/claude-sonnet-4-5"


def test_viewer_and_read_key_may_preview(member_client, key_client, configs):
    assert _preview(member_client).status_code == 200
    assert _preview(key_client("read")).status_code == 200
    assert_error(_preview(key_client("inference")), 403, "permission_denied")


def test_bad_requests(owner_client, configs):
    assert (
        "model"
        in assert_error(owner_client.post(URL, {}, format="json"), 400, "invalid_request")["fields"]
    )
    assert_error(owner_client.post(URL, [1, 2], format="json"), 400, "invalid_request")
    response = owner_client.post(URL, {"model": "no-such-model"}, format="json")
    assert response.status_code in (400, 404), response.content
    assert "error" in response.json()


@pytest.mark.django_db(transaction=True)
async def test_preview_through_the_asgi_app(tenant, other_tenant, small_catalog):
    """The production server is ASGI: the sync DRF view (and the router's async budget
    lookup inside it) must work there too."""
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    from tenants.services import api_key_create

    await sync_to_async(RoutingConfig.objects.create)(
        tenant=tenant, name="default", is_default=True, primary_model="openai/gpt-4o-mini"
    )
    _key, secret = await sync_to_async(api_key_create)(tenant=tenant, scopes=["read"])
    client, auth = AsyncClient(), {"Authorization": f"Bearer {secret}"}
    response = await client.post(
        URL, {"model": "auto"}, content_type="application/json", headers=auth
    )
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "openai/gpt-4o-mini"
    listed = await client.get("/api/v1/configs/", headers=auth)
    assert [c["name"] for c in listed.json()["results"]] == ["default"]
