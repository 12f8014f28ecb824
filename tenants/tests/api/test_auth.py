"""Who may call the management API, for which tenant, and how refusals look."""

import pytest
from rest_framework.test import APIClient

from tenants.models import Membership
from tenants.services import api_key_create, api_key_revoke, membership_set
from tests.support.api import assert_error

URL = "/api/v1/configs/"


def test_anonymous_is_401_in_contract_shape(db):
    response = APIClient().get(URL)
    error = assert_error(response, 401, "invalid_api_key")
    assert error["type"] == "authentication_error"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer tg_not-a-real-key-000000000000000000000000", "Bearer sk-abc", "Bearer a b"]
)
def test_bad_bearer_is_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get(URL), 401, "invalid_api_key")


def test_revoked_key_is_401(tenant):
    key, secret = api_key_create(tenant=tenant, scopes=["read"])
    api_key_revoke(key=key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert_error(client.get(URL), 401, "invalid_api_key")


def test_inference_only_key_is_403(key_client):
    client = key_client("inference")
    assert_error(client.get(URL), 403, "permission_denied")
    assert_error(client.get("/api/v1/models/"), 403, "permission_denied")


def test_manage_without_read_cannot_get(key_client):
    assert_error(key_client("manage").get(URL), 403, "permission_denied")


def test_key_ignores_tenant_header(key_client, other_tenant, small_catalog):
    from llm.models import RoutingConfig

    RoutingConfig.objects.create(tenant=other_tenant, name="theirs", primary_model="gpt-4.1")
    response = key_client("read").get(URL, HTTP_X_TOLLGATE_TENANT="globex")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_user_without_membership_is_403(django_user_model):
    user = django_user_model.objects.create_user(username="nobody", password="pw-123456")
    client = APIClient()
    client.force_login(user)
    assert_error(client.get(URL), 403, "permission_denied")


def test_user_with_several_tenants_names_one(owner, tenant, other_tenant, small_catalog):
    from llm.models import RoutingConfig

    membership_set(tenant=other_tenant, user=owner, role=Membership.Role.VIEWER)
    RoutingConfig.objects.create(tenant=other_tenant, name="globex-plan", primary_model="gpt-4.1")
    client = APIClient()
    client.force_login(owner)
    assert_error(client.get(URL), 400, "invalid_request")
    listed = client.get(URL, HTTP_X_TOLLGATE_TENANT="globex").json()
    assert [c["name"] for c in listed["results"]] == ["globex-plan"]
    # Viewer there: may read, not write.
    response = client.post(
        URL,
        {"name": "x", "primary_model": "gpt-4.1"},
        format="json",
        HTTP_X_TOLLGATE_TENANT="globex",
    )
    assert_error(response, 403, "permission_denied")
    # Owner here: may write.
    response = client.post(
        URL, {"name": "x", "primary_model": "gpt-4.1"}, format="json", HTTP_X_TOLLGATE_TENANT="acme"
    )
    assert response.status_code == 201


def test_header_for_a_tenant_you_are_not_in_is_404(owner_client, other_tenant):
    assert_error(owner_client.get(URL, HTTP_X_TOLLGATE_TENANT="globex"), 404, "not_found")
    assert_error(owner_client.get(URL, HTTP_X_TOLLGATE_TENANT="nope"), 404, "not_found")


def test_operator_unknown_tenant_is_404(operator_client):
    assert_error(operator_client.get(URL, HTTP_X_TOLLGATE_TENANT="nope"), 404, "not_found")


def test_unknown_api_path_is_json_404(owner_client):
    assert_error(owner_client.get("/api/v1/nothing-here/"), 404, "not_found")
    assert_error(owner_client.get("/api/v1/configs/abc/"), 404, "not_found")


def test_session_writes_need_csrf(owner, small_catalog):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(URL, {"name": "x", "primary_model": "gpt-4.1"}, format="json")
    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/configs/",
        "/api/v1/keys/",
        "/api/v1/budgets/",
        "/api/v1/credentials/",
        "/api/v1/models/",
        "/api/v1/providers/",
        "/api/v1/usage/",
        "/api/v1/exports/",
        "/api/v1/route/preview/",
    ],
)
def test_options_never_fails(owner_client, small_catalog, url):
    assert owner_client.options(url).status_code == 200


def test_json_only(owner_client, small_catalog):
    response = owner_client.post(URL, {"name": "x", "primary_model": "gpt-4.1"})  # a form
    assert_error(response, 415, "unsupported_media_type")
    response = owner_client.get(URL, HTTP_ACCEPT="text/html")
    assert_error(response, 406, "not_acceptable")
