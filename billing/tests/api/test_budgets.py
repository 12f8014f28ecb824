"""budgets/: the contract's payload, config by id or name, key by id, tenant isolation."""

import pytest

from billing.models import Budget
from llm.models import RoutingConfig
from tenants.services import api_key_create
from tests.support.api import assert_error

URL = "/api/v1/budgets/"
CONTRACT = {
    "scope": "tenant",
    "period": "daily",
    "limit_usd": "25.00",
    "limit_tokens": None,
    "mode": "strict",
    "alert_thresholds": [50, 80, 100],
}


@pytest.fixture
def config(tenant, small_catalog):
    return RoutingConfig.objects.create(tenant=tenant, name="plan", primary_model="gpt-4.1")


def test_contract_payload(owner_client, tenant):
    response = owner_client.post(URL, CONTRACT, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    for field, value in CONTRACT.items():
        assert body[field] == value, field
    assert response["Location"].endswith(f"/api/v1/budgets/{body['id']}/")
    budget = Budget.objects.get(pk=body["id"])
    assert budget.tenant == tenant and str(budget.limit_usd) == "25.000000"


def test_config_by_name_or_id_and_key_by_id(owner_client, tenant, config):
    by_name = owner_client.post(
        URL, {**CONTRACT, "scope": "config", "config": "plan", "period": "monthly"}, format="json"
    )
    assert by_name.status_code == 201, by_name.content
    assert by_name.json()["config"] == config.pk and by_name.json()["config_name"] == "plan"
    by_id = owner_client.post(
        URL, {**CONTRACT, "scope": "config", "config": config.pk}, format="json"
    )
    assert by_id.json()["config"] == config.pk
    key, _ = api_key_create(tenant=tenant, scopes=["inference"])
    by_key = owner_client.post(URL, {**CONTRACT, "scope": "key", "api_key": key.pk}, format="json")
    assert by_key.status_code == 201 and by_key.json()["api_key"] == key.pk


def test_validation_names_fields(owner_client, config):
    cases = [
        ({**CONTRACT, "scope": "config"}, "config"),
        ({**CONTRACT, "scope": "config", "config": "nope"}, "config"),
        ({**CONTRACT, "scope": "key"}, "api_key"),
        ({**CONTRACT, "limit_usd": None}, "limit_usd"),
        ({**CONTRACT, "limit_usd": "-1"}, "limit_usd"),
        ({**CONTRACT, "period": "weekly"}, "period"),
        ({**CONTRACT, "mode": "maybe"}, "mode"),
        ({**CONTRACT, "alert_thresholds": [0]}, "alert_thresholds[0]"),
        ({**CONTRACT, "alert_thresholds": [50, 50]}, "alert_thresholds"),
        ({**CONTRACT, "config": "plan"}, "config"),
    ]
    for payload, field in cases:
        error = assert_error(owner_client.post(URL, payload, format="json"), 400, "invalid_request")
        assert field in error["fields"], (payload, error)
    assert not Budget.objects.exists()


def test_other_tenants_config_and_key_are_unknown(owner_client, other_tenant, small_catalog):
    theirs = RoutingConfig.objects.create(tenant=other_tenant, name="plan", primary_model="gpt-4.1")
    their_key, _ = api_key_create(tenant=other_tenant, scopes=["inference"])
    for payload, field in (
        ({**CONTRACT, "scope": "config", "config": theirs.pk}, "config"),
        ({**CONTRACT, "scope": "config", "config": "plan"}, "config"),
        ({**CONTRACT, "scope": "key", "api_key": their_key.pk}, "api_key"),
    ):
        error = assert_error(owner_client.post(URL, payload, format="json"), 400, "invalid_request")
        assert field in error["fields"]


def test_update_and_delete(owner_client):
    created = owner_client.post(URL, CONTRACT, format="json").json()
    detail = f"{URL}{created['id']}/"
    response = owner_client.patch(detail, {"mode": "soft", "limit_usd": "30.5"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["mode"] == "soft" and response.json()["limit_usd"] == "30.50"
    assert owner_client.delete(detail).status_code == 204
    assert not Budget.objects.exists()


def test_viewer_outsider_and_scopes(owner_client, member_client, outsider_client, key_client):
    created = owner_client.post(URL, CONTRACT, format="json").json()
    detail = f"{URL}{created['id']}/"
    assert member_client.get(URL).json()["count"] == 1
    assert_error(member_client.post(URL, CONTRACT, format="json"), 403, "permission_denied")
    assert_error(
        member_client.patch(detail, {"mode": "soft"}, format="json"), 403, "permission_denied"
    )
    assert outsider_client.get(URL).json()["results"] == []
    assert_error(outsider_client.get(detail), 404, "not_found")
    assert_error(outsider_client.delete(detail), 404, "not_found")
    assert key_client("read").get(detail).status_code == 200
    assert_error(key_client("read").delete(detail), 403, "permission_denied")
    assert Budget.objects.filter(pk=created["id"], mode="strict").exists()
