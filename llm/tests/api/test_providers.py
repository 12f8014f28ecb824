"""providers/: read for tenants, write for platform staff only."""

from llm.models import Provider
from tests.support.api import assert_error

PROVIDERS = "/api/v1/providers/"


def test_providers_read(member_client, small_catalog):
    body = member_client.get(PROVIDERS).json()
    assert [p["id"] for p in body["results"]] == ["anthropic", "openai"]
    assert member_client.get(f"{PROVIDERS}openai/").json()["wire_format"] == "openai_chat"
    assert_error(member_client.get(f"{PROVIDERS}nope/"), 404, "not_found")


def test_tenants_cannot_write_providers(owner_client, key_client, small_catalog):
    payload = {
        "slug": "groq",
        "name": "Groq",
        "wire_format": "openai_chat",
        "base_url": "https://api.groq.com/openai/v1",
    }
    assert_error(owner_client.post(PROVIDERS, payload, format="json"), 403, "permission_denied")
    assert_error(
        key_client("read", "manage").delete(f"{PROVIDERS}openai/"), 403, "permission_denied"
    )
    assert not Provider.objects.filter(slug="groq").exists()
    assert Provider.objects.filter(slug="openai").exists()


def test_operator_writes_providers(operator_client, small_catalog):
    payload = {
        "slug": "groq",
        "name": "Groq",
        "wire_format": "openai_chat",
        "base_url": "https://api.groq.com/openai/v1",
    }
    response = operator_client.post(PROVIDERS, payload, format="json")
    assert response.status_code == 201, response.content
    assert response["Location"].endswith("/api/v1/providers/groq/")
    response = operator_client.patch(f"{PROVIDERS}groq/", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert (
        "wire_format"
        in assert_error(
            operator_client.post(
                PROVIDERS, {**payload, "slug": "x", "wire_format": "soap"}, format="json"
            ),
            400,
            "invalid_request",
        )["fields"]
    )
    assert operator_client.delete(f"{PROVIDERS}groq/").status_code == 204


def test_provider_with_credentials_cannot_be_deleted(operator_client, tenant, small_catalog):
    from tenants.services import credential_set

    credential_set(tenant=tenant, provider=small_catalog["openai"], api_key="sk-000000000000")
    assert_error(operator_client.delete(f"{PROVIDERS}openai/"), 409, "conflict")
