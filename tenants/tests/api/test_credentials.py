"""credentials/: BYOK keys go in, only last4 comes out; rotate by POST again or PUT/PATCH."""

import json

import pytest

from tenants.models import ProviderCredential
from tenants.services import credential_secret, credential_set
from tests.support.api import assert_error

URL = "/api/v1/credentials/"
SECRET = "sk-test-abcdefghijklmnop-9876"


@pytest.fixture
def foreign_credential(other_tenant, small_catalog):
    return credential_set(
        tenant=other_tenant, provider=small_catalog["openai"], api_key="sk-globex-secret-4321"
    )


def test_create_returns_last4_never_the_key(owner_client, tenant, small_catalog):
    response = owner_client.post(
        URL,
        {"provider": "openai", "api_key": SECRET, "base_url": "https://example-proxy.test/v1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["provider"] == "openai" and body["last4"] == "9876"
    assert {"id", "provider", "last4", "created_at", "created"} <= set(body)
    assert SECRET not in response.content.decode()
    assert response["Location"].endswith(f"/api/v1/credentials/{body['id']}/")
    stored = ProviderCredential.objects.get(pk=body["id"])
    assert stored.tenant == tenant and SECRET not in stored.encrypted_key
    assert credential_secret(credential=stored) == SECRET
    for page in (owner_client.get(URL), owner_client.get(f"{URL}{body['id']}/")):
        assert SECRET not in page.content.decode()
        assert "api_key" not in json.dumps(page.json())


def test_post_again_rotates(owner_client, small_catalog):
    first = owner_client.post(URL, {"provider": "openai", "api_key": SECRET}, format="json").json()
    again = owner_client.post(
        URL, {"provider": "openai", "api_key": "sk-rotated-key-000-1111"}, format="json"
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["last4"] == "1111"
    assert again.json()["rotated_at"]
    stored = ProviderCredential.objects.get(pk=first["id"])
    assert credential_secret(credential=stored) == "sk-rotated-key-000-1111"
    assert ProviderCredential.objects.count() == 1


def test_put_and_patch_rotate(owner_client, small_catalog):
    created = owner_client.post(
        URL, {"provider": "openai", "api_key": SECRET}, format="json"
    ).json()
    detail = f"{URL}{created['id']}/"
    response = owner_client.put(detail, {"api_key": "sk-put-key-0000-2222"}, format="json")
    assert response.status_code == 200 and response.json()["last4"] == "2222"
    # A new base URL without the key again would let a manager send the stored key elsewhere.
    refused = owner_client.patch(detail, {"base_url": "https://proxy.test/v1"}, format="json")
    assert "api_key" in assert_error(refused, 400, "invalid_request")["fields"]
    assert ProviderCredential.objects.get(pk=created["id"]).base_url == ""
    response = owner_client.patch(
        detail,
        {"base_url": "https://proxy.test/v1", "api_key": "sk-put-key-0000-3333"},
        format="json",
    )
    assert response.status_code == 200
    stored = ProviderCredential.objects.get(pk=created["id"])
    assert stored.base_url == "https://proxy.test/v1"
    assert credential_secret(credential=stored) == "sk-put-key-0000-3333"
    assert (
        "api_key"
        in assert_error(owner_client.put(detail, {}, format="json"), 400, "invalid_request")[
            "fields"
        ]
    )


def test_validation(owner_client, small_catalog):
    error = assert_error(
        owner_client.post(URL, {"provider": "nope", "api_key": SECRET}, format="json"),
        400,
        "invalid_request",
    )
    assert "provider" in error["fields"]
    error = assert_error(
        owner_client.post(URL, {"provider": "openai", "api_key": "short"}, format="json"),
        400,
        "invalid_request",
    )
    assert "api_key" in error["fields"] and "short" not in error["message"]
    error = assert_error(
        owner_client.post(
            URL, {"provider": "openai", "api_key": SECRET, "base_url": "ftp://x"}, format="json"
        ),
        400,
        "invalid_request",
    )
    assert "base_url" in error["fields"]


def test_private_base_url_refused_when_not_allowed(owner_client, small_catalog, settings):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = False
    response = owner_client.post(
        URL,
        {"provider": "openai", "api_key": SECRET, "base_url": "https://169.254.169.254/v1"},
        format="json",
    )
    assert "base_url" in assert_error(response, 400, "invalid_request")["fields"]
    assert not ProviderCredential.objects.exists()


def test_delete(owner_client, small_catalog):
    created = owner_client.post(
        URL, {"provider": "openai", "api_key": SECRET}, format="json"
    ).json()
    assert owner_client.delete(f"{URL}{created['id']}/").status_code == 204
    assert not ProviderCredential.objects.exists()


def test_viewer_reads_not_writes(member_client, owner_client, small_catalog):
    created = owner_client.post(
        URL, {"provider": "openai", "api_key": SECRET}, format="json"
    ).json()
    assert member_client.get(URL).json()["count"] == 1
    assert_error(
        member_client.post(URL, {"provider": "anthropic", "api_key": SECRET}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(member_client.delete(f"{URL}{created['id']}/"), 403, "permission_denied")


def test_outsider_shut_out(owner_client, outsider_client, foreign_credential, small_catalog):
    assert owner_client.get(URL).json()["results"] == []
    for method in ("get", "put", "patch", "delete"):
        response = getattr(owner_client, method)(
            f"{URL}{foreign_credential.pk}/", {"api_key": SECRET}, format="json"
        )
        assert_error(response, 404, "not_found")
    foreign_credential.refresh_from_db()
    assert foreign_credential.last4 == "4321"
    assert outsider_client.get(URL).json()["count"] == 1


def test_key_scopes(key_client, small_catalog):
    assert_error(
        key_client("read").post(URL, {"provider": "openai", "api_key": SECRET}, format="json"),
        403,
        "permission_denied",
    )
    response = key_client("read", "manage").post(
        URL, {"provider": "openai", "api_key": SECRET}, format="json"
    )
    assert response.status_code == 201 and SECRET not in response.content.decode()
