"""providers/: read for tenants, write for platform staff only."""

from llm.models import Provider
from llm.tests.api.catalog_support import GROQ, PROVIDERS, post_groq
from tests.support.api import assert_error


def test_providers_read(member_client, small_catalog):
    body = member_client.get(PROVIDERS).json()
    assert [p["id"] for p in body["results"]] == ["anthropic", "openai"]
    assert member_client.get(f"{PROVIDERS}openai/").json()["wire_format"] == "openai_chat"
    assert_error(member_client.get(f"{PROVIDERS}nope/"), 404, "not_found")


def test_tenants_cannot_write_providers(owner_client, key_client, small_catalog):
    assert_error(owner_client.post(PROVIDERS, GROQ, format="json"), 403, "permission_denied")
    assert_error(
        key_client("read", "manage").delete(f"{PROVIDERS}openai/"), 403, "permission_denied"
    )
    assert not Provider.objects.filter(slug="groq").exists()
    assert Provider.objects.filter(slug="openai").exists()


def test_operator_writes_providers(operator_client, small_catalog):
    post_groq(operator_client)
    response = operator_client.patch(f"{PROVIDERS}groq/", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert (
        "wire_format"
        in assert_error(
            operator_client.post(
                PROVIDERS, {**GROQ, "slug": "x", "wire_format": "soap"}, format="json"
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
