"""The admin forms of model access: a key's allowed lists (tenant admin), a tenant's plan
(operator only)."""

from django.urls import reverse

from tenants.services import api_key_authenticate


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def test_tenant_admin_adds_a_key_limited_to_models(client, owner, tenant):
    client.force_login(owner)
    response = client.post(
        url("tenants_tenantapikey_add"),
        {
            "name": "limited",
            "scopes": ["inference"],
            "allowed_models": "openai/gpt-4o-mini, gpt-4.1\nanthropic/claude-haiku-4-5",
            "allowed_configs": "",
        },
    )
    assert response.status_code == 200
    key = api_key_authenticate(secret=response.context["secret"])
    assert key.allowed_models == ["openai/gpt-4o-mini", "gpt-4.1", "anthropic/claude-haiku-4-5"]
    assert key.allowed_configs == []
    page = client.get(url("tenants_tenantapikey_change", key.pk)).content.decode()
    assert "openai/gpt-4o-mini, gpt-4.1, anthropic/claude-haiku-4-5" in page


def _tenant_form(tenant, **plan) -> dict:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "timezone": tenant.timezone,
        "status": tenant.status,
        "markup_pct": "0",
        "alert_webhook_url": "",
        "alert_email": "",
        **plan,
    }


def test_operator_sets_a_tenant_plan(client, operator, tenant):
    client.force_login(operator)
    plan = {
        "allowed_providers": "openai, anthropic",
        "allowed_models": "",
        "local_providers": "ollama",
    }
    response = client.post(url("tenants_tenant_change", tenant.pk), _tenant_form(tenant, **plan))
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.allowed_providers == ["openai", "anthropic"]
    assert tenant.local_providers == ["ollama"] and tenant.allowed_models == []


def test_tenant_owner_cannot_change_its_plan(client, owner, tenant):
    client.force_login(owner)
    plan = {"allowed_providers": "", "local_providers": "ollama, vllm"}
    form = {**_tenant_form(tenant, **plan), "name": "Acme Renamed"}
    response = client.post(url("tenants_tenant_change", tenant.pk), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.name == "Acme Renamed"  # the form saved; the plan fields were read-only
    assert tenant.local_providers == []
