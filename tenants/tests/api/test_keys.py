"""keys/: the secret is returned once by create, lists show prefixes, revoke stops a key."""

from rest_framework.test import APIClient

from tenants.models import TenantApiKey
from tenants.services import api_key_create
from tests.support.api import assert_error

URL = "/api/v1/keys/"


def _bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_create_shows_secret_once(owner_client, owner, tenant):
    response = owner_client.post(
        URL, {"name": "ci", "scopes": ["read", "inference"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("tg_") and secret.startswith(body["prefix"])
    assert body["scopes"] == ["inference", "read"]
    assert response["Location"].endswith(f"/api/v1/keys/{body['id']}/")
    assert response["Cache-Control"] == "no-store"
    key = TenantApiKey.objects.get(pk=body["id"])
    assert key.tenant == tenant and key.created_by == owner
    for page in (owner_client.get(URL), owner_client.get(f"{URL}{body['id']}/")):
        assert secret not in page.content.decode()
        assert "secret" not in page.content.decode()
    listed = owner_client.get(URL).json()["results"]
    assert [k["prefix"] for k in listed] == [body["prefix"]]
    # The new key works, for its scopes.
    assert _bearer(secret).get(URL).status_code == 200


def test_bad_scopes(owner_client):
    for scopes in ([], ["root"], "read"):
        error = assert_error(
            owner_client.post(URL, {"scopes": scopes}, format="json"), 400, "invalid_request"
        )
        assert any(f.startswith("scopes") for f in error["fields"]), error


def test_revoke_by_delete_and_by_post(owner_client, tenant):
    first, first_secret = api_key_create(tenant=tenant, scopes=["read"])
    second, second_secret = api_key_create(tenant=tenant, scopes=["read"])
    assert owner_client.delete(f"{URL}{first.pk}/").status_code == 204
    response = owner_client.post(f"{URL}{second.pk}/revoke/")
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert response.json()["is_active"] is False
    for secret in (first_secret, second_secret):
        assert_error(_bearer(secret).get(URL), 401, "invalid_api_key")
    # Revoked keys stay listed (audit), marked inactive.
    assert {k["id"]: k["is_active"] for k in owner_client.get(URL).json()["results"]} == {
        first.pk: False,
        second.pk: False,
    }


def test_viewer_cannot_create_or_revoke(member_client, tenant):
    key, _ = api_key_create(tenant=tenant, scopes=["read"])
    assert member_client.get(URL).json()["count"] == 1
    assert_error(
        member_client.post(URL, {"scopes": ["read"]}, format="json"), 403, "permission_denied"
    )
    assert_error(member_client.post(f"{URL}{key.pk}/revoke/"), 403, "permission_denied")
    key.refresh_from_db()
    assert key.revoked_at is None


def test_outsider_cannot_see_or_revoke(outsider_client, tenant):
    key, secret = api_key_create(tenant=tenant, scopes=["read"])
    assert outsider_client.get(URL).json()["results"] == []
    assert_error(outsider_client.get(f"{URL}{key.pk}/"), 404, "not_found")
    assert_error(outsider_client.delete(f"{URL}{key.pk}/"), 404, "not_found")
    assert_error(outsider_client.post(f"{URL}{key.pk}/revoke/"), 404, "not_found")
    assert _bearer(secret).get(URL).status_code == 200


def test_key_scopes(key_client, tenant, other_tenant):
    api_key_create(tenant=other_tenant, scopes=["read"])
    reader = key_client("read")
    assert reader.get(URL).json()["count"] == 1  # itself only, not the other tenant's
    assert_error(reader.post(URL, {"scopes": ["read"]}, format="json"), 403, "permission_denied")
    manager = key_client("read", "manage")
    created = manager.post(URL, {"scopes": ["inference"]}, format="json")
    assert created.status_code == 201
    assert TenantApiKey.objects.get(pk=created.json()["id"]).created_by is None


def test_operator_lists_every_tenant_and_names_one_to_create(operator_client, tenant, other_tenant):
    api_key_create(tenant=tenant, scopes=["read"])
    api_key_create(tenant=other_tenant, scopes=["read"])
    listed = operator_client.get(URL).json()["results"]
    assert sorted(k["tenant"] for k in listed) == ["acme", "globex"]
    assert "secret" not in str(listed)
    assert_error(
        operator_client.post(URL, {"scopes": ["read"]}, format="json"), 400, "invalid_request"
    )
    created = operator_client.post(
        URL, {"scopes": ["read"]}, format="json", HTTP_X_TOLLGATE_TENANT="globex"
    )
    assert created.status_code == 201
    assert TenantApiKey.objects.get(pk=created.json()["id"]).tenant == other_tenant


def test_expiry_must_be_in_the_future(owner_client):
    error = assert_error(
        owner_client.post(
            URL, {"scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}, format="json"
        ),
        400,
        "invalid_request",
    )
    assert "expires_at" in error["fields"]
