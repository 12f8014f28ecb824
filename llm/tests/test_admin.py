"""Admin for the catalog (operators edit, tenants read) and routing configs (per tenant)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from llm.models import LLMModel, LLMModelPrice, RoutingConfig


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def gpt(catalog):
    return LLMModel.objects.select_related("provider").get(
        provider__slug="openai", model_id="gpt-4o-mini"
    )


def _model_post(model: LLMModel, **changes) -> dict:
    data = {
        "provider": model.provider_id,
        "model_id": model.model_id,
        "display_name": model.display_name,
        "is_active": "on",
        "input_price_per_1m": model.input_price_per_1m,
        "output_price_per_1m": model.output_price_per_1m,
        "cached_input_price_per_1m": model.cached_input_price_per_1m or "",
        "price_source": model.price_source,
        "price_updated_at": model.price_updated_at or "",
        "litellm_key": model.litellm_key,
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "capabilities": model.capabilities,
        "speed_tier": model.speed_tier,
        "quality_tier": model.quality_tier,
        "price_history-TOTAL_FORMS": "0",
        "price_history-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_catalog_is_read_only_for_tenant_admins(client, owner, gpt):
    client.force_login(owner)
    assert client.get(url("llm_llmmodel_changelist")).status_code == 200
    page = client.get(url("llm_llmmodel_change", gpt.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(
        url("llm_llmmodel_change", gpt.pk), _model_post(gpt, input_price_per_1m="0.01")
    )
    assert response.status_code == 403
    gpt.refresh_from_db()
    assert gpt.input_price_per_1m == Decimal("0.15")
    assert client.get(url("llm_llmmodel_add")).status_code == 403
    assert client.get(url("llm_provider_add")).status_code == 403
    assert client.get(url("llm_provider_change", gpt.provider_id)).status_code == 200
    assert client.post(url("llm_llmmodel_delete", gpt.pk), {"post": "yes"}).status_code == 403


def test_operator_edits_price_and_history_is_kept(client, operator, gpt):
    client.force_login(operator)
    history_before = LLMModelPrice.objects.filter(model=gpt).count()
    response = client.post(
        url("llm_llmmodel_change", gpt.pk),
        _model_post(gpt, input_price_per_1m="0.2", capabilities=["tools", "streaming"]),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    gpt.refresh_from_db()
    assert gpt.input_price_per_1m == Decimal("0.2")
    assert set(gpt.capabilities) == {"tools", "streaming"}
    assert LLMModelPrice.objects.filter(model=gpt).count() == history_before + 1


def _config_post(tenant=None, **changes) -> dict:
    data = {
        "name": "support",
        "primary_model": "openai/gpt-4o-mini",
        "fallback_models": '["openai/gpt-4o"]',
        "params": '{"temperature": 0.2}',
        "rules": "[]",
        "cache_ttl_seconds": "0",
    }
    if tenant is not None:
        data["tenant"] = tenant.pk
    data.update(changes)
    return data


def test_tenant_admin_adds_config_for_own_tenant(client, owner, tenant, catalog):
    client.force_login(owner)
    response = client.post(url("llm_routingconfig_add"), _config_post(is_default="on"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    config = RoutingConfig.objects.get(name="support")
    assert config.tenant == tenant and config.is_default
    assert config.fallback_models == ["openai/gpt-4o"]
    assert config.params == {"temperature": 0.2}
    # JSON is shown indented for editing.
    page = client.get(url("llm_routingconfig_change", config.pk)).content.decode()
    assert "&quot;temperature&quot;: 0.2" in page and "{\n" in page


def test_rule_errors_are_shown_on_their_field(client, owner, catalog):
    client.force_login(owner)
    rules = '[{"when": {"task": "code"}, "route": {"model": "nope/unknown"}}]'
    response = client.post(
        url("llm_routingconfig_add"),
        _config_post(rules=rules, params='{"temperature": "hot"}'),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "rules" in errors and "rules[0].route.model" in errors["rules"][0]
    assert "params" in errors and "params.temperature" in " ".join(errors["params"])
    assert not RoutingConfig.objects.exists()


def test_bad_primary_model_is_a_field_error(client, owner, catalog):
    client.force_login(owner)
    response = client.post(url("llm_routingconfig_add"), _config_post(primary_model="x/none"))
    assert response.status_code == 200
    assert "primary_model" in response.context["adminform"].form.errors


def test_second_default_is_an_error_not_a_crash(client, owner, tenant, catalog):
    RoutingConfig.objects.create(
        tenant=tenant, name="main", primary_model="openai/gpt-4o-mini", is_default=True
    )
    client.force_login(owner)
    response = client.post(url("llm_routingconfig_add"), _config_post(is_default="on"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert RoutingConfig.objects.filter(tenant=tenant).count() == 1


def test_other_tenants_config_invisible(client, owner, other_tenant, catalog):
    config = RoutingConfig.objects.create(
        tenant=other_tenant, name="secret-plan", primary_model="openai/gpt-4o-mini"
    )
    client.force_login(owner)
    assert "secret-plan" not in client.get(url("llm_routingconfig_changelist")).content.decode()
    assert client.get(url("llm_routingconfig_change", config.pk)).status_code == 404
    response = client.post(
        url("llm_routingconfig_change", config.pk), _config_post(other_tenant, name="mine")
    )
    assert response.status_code == 404
    config.refresh_from_db()
    assert config.name == "secret-plan"
