"""keys/ allowed_models and allowed_configs; the staff-only tenant plan (README "Model access")."""

from tenants.models import Tenant, TenantApiKey
from tenants.services import api_key_create
from tests.support.api import assert_error

KEYS = "/api/v1/keys/"


def test_key_is_created_and_restricted_with_allowed_lists(owner_client, tenant):
    created = owner_client.post(
        KEYS,
        {"scopes": ["inference"], "allowed_models": ["openai/gpt-4o-mini"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["allowed_models"] == ["openai/gpt-4o-mini"] and body["allowed_configs"] == []
    changed = owner_client.patch(
        f"{KEYS}{body['id']}/", {"allowed_configs": ["cheap"]}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["allowed_models"] == ["openai/gpt-4o-mini"]
    assert changed.json()["allowed_configs"] == ["cheap"]
    key = TenantApiKey.objects.get(pk=body["id"])
    assert key.allowed_configs == ["cheap"]
    listed = owner_client.get(f"{KEYS}{body['id']}/").json()
    assert listed["allowed_configs"] == ["cheap"]


def test_bad_allowed_lists_are_400(owner_client, tenant):
    key, _ = api_key_create(tenant=tenant, scopes=["inference"])
    for bad in ("gpt-4o", [""], [{"a": 1}], ["x" * 201]):
        response = owner_client.patch(f"{KEYS}{key.pk}/", {"allowed_models": bad}, format="json")
        assert_error(response, 400, "invalid_request")


def test_viewer_and_outsider_cannot_restrict_a_key(member_client, outsider_client, tenant):
    key, _ = api_key_create(tenant=tenant, scopes=["inference"])
    body = {"allowed_models": ["openai/gpt-4o-mini"]}
    assert member_client.patch(f"{KEYS}{key.pk}/", body, format="json").status_code == 403
    assert outsider_client.patch(f"{KEYS}{key.pk}/", body, format="json").status_code == 404
    key.refresh_from_db()
    assert key.allowed_models == []


def test_staff_read_and_set_a_tenant_plan(operator_client, tenant):
    url = f"/api/v1/tenants/{tenant.slug}/access/"
    assert operator_client.get(url).json() == {
        "tenant": "acme",
        "allowed_providers": [],
        "allowed_models": [],
        "local_providers": [],
    }
    plan = {"allowed_providers": ["openai"], "local_providers": ["ollama"]}
    response = operator_client.put(url, plan, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["allowed_providers"] == ["openai"]
    tenant.refresh_from_db()
    assert tenant.allowed_providers == ["openai"] and tenant.local_providers == ["ollama"]
    assert tenant.allowed_models == []
    assert operator_client.get("/api/v1/tenants/nope/access/").status_code == 404


def test_tenants_do_not_see_the_plan_endpoint(owner_client, key_client, tenant):
    url = f"/api/v1/tenants/{tenant.slug}/access/"
    assert_error(owner_client.get(url), 404, "not_found")
    assert_error(owner_client.put(url, {"allowed_providers": []}, format="json"), 404, "not_found")
    assert_error(key_client("read", "manage").get(url), 404, "not_found")
    tenant.refresh_from_db()
    assert tenant.allowed_providers == []


def test_new_tenants_get_the_platform_default_plan(settings, db):
    settings.TOLLGATE_DEFAULT_ALLOWED_PROVIDERS = ["openai", "anthropic"]
    assert Tenant.objects.create(slug="fresh", name="Fresh").allowed_providers == [
        "openai",
        "anthropic",
    ]
