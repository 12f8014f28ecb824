"""configs/: CRUD in the contract's shape, rule errors that name the field, one default per
tenant, ETag/If-Match and updated_at preconditions, tenant isolation."""

import pytest

from llm.models import RoutingConfig
from llm.tests.routing_support import CONTRACT_RULES
from tests.support.api import assert_error

URL = "/api/v1/configs/"

CONTRACT_PAYLOAD = {
    "name": "default",
    "is_default": True,
    "primary_model": "openai/gpt-4o-mini",
    "fallback_models": ["anthropic/claude-haiku-4-5", "openai/gpt-4.1"],
    "use_byok": True,
    "params": {"temperature": 0.2, "max_tokens": 512},
    "rules": CONTRACT_RULES,
    "cache_ttl_seconds": 0,
}


@pytest.fixture
def config(tenant, small_catalog):
    return RoutingConfig.objects.create(
        tenant=tenant, name="plan", primary_model="openai/gpt-4o-mini"
    )


@pytest.fixture
def foreign_config(other_tenant, small_catalog):
    return RoutingConfig.objects.create(
        tenant=other_tenant, name="secret-plan", primary_model="openai/gpt-4.1"
    )


def test_owner_creates_contract_payload(owner_client, tenant, small_catalog):
    response = owner_client.post(URL, CONTRACT_PAYLOAD, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    for field, value in CONTRACT_PAYLOAD.items():
        assert body[field] == value, field
    stored = RoutingConfig.objects.get(pk=body["id"])
    assert stored.tenant == tenant and stored.rules == CONTRACT_PAYLOAD["rules"]
    assert response["Location"].endswith(f"/api/v1/configs/{stored.pk}/")
    assert response["ETag"]


def test_tenant_comes_from_auth_not_body(owner_client, tenant, other_tenant, small_catalog):
    payload = {**CONTRACT_PAYLOAD, "tenant": other_tenant.slug, "tenant_id": other_tenant.pk}
    response = owner_client.post(URL, payload, format="json")
    assert response.status_code == 201
    assert RoutingConfig.objects.get(pk=response.json()["id"]).tenant == tenant
    assert not RoutingConfig.objects.filter(tenant=other_tenant).exists()


def test_rule_errors_name_the_field(owner_client, small_catalog):
    payload = {**CONTRACT_PAYLOAD}
    payload["rules"] = [
        *CONTRACT_PAYLOAD["rules"][:2],
        {"when": {"tags_any": ["x"]}, "route": {"split": [{"model": "x", "weight": 1}]}},
    ]
    payload["params"] = {"temperature": "hot"}
    error = assert_error(owner_client.post(URL, payload, format="json"), 400, "invalid_request")
    assert error["type"] == "invalid_request_error"
    assert error["fields"]["rules[2].route.split[0].model"] == ["Unknown or inactive model 'x'."]
    assert "params.temperature" in error["fields"]
    assert not RoutingConfig.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "primary_model": "nope/none"}, "primary_model"),
        ({"name": "x", "primary_model": "gpt-4o-mini", "rules": ["not-a-rule"]}, "rules[0]"),
        ({"name": "x", "primary_model": "gpt-4o-mini", "rules": "nope"}, "rules"),
        ({"name": "bad name!", "primary_model": "gpt-4o-mini"}, "name"),
        ({"primary_model": "gpt-4o-mini"}, "name"),
        (
            {"name": "x", "primary_model": "gpt-4o-mini", "cache_ttl_seconds": -1},
            "cache_ttl_seconds",
        ),
        (
            {
                "name": "x",
                "primary_model": "gpt-4o-mini",
                "rules": [{"when": {"moon": 1}, "route": {"model": "gpt-4.1"}}],
            },
            "rules[0].when.moon",
        ),
    ],
)
def test_bad_input_is_a_400_with_fields(owner_client, small_catalog, payload, field):
    error = assert_error(owner_client.post(URL, payload, format="json"), 400, "invalid_request")
    assert field in error["fields"], error


def test_malformed_json_is_a_400(owner_client, small_catalog):
    response = owner_client.post(URL, "{not json", content_type="application/json")
    assert_error(response, 400, "invalid_request")


def test_duplicate_name_is_a_field_error(owner_client, config):
    response = owner_client.post(URL, {"name": "plan", "primary_model": "gpt-4.1"}, format="json")
    assert "name" in assert_error(response, 400, "invalid_request")["fields"]


def test_new_default_unsets_old_one(owner_client, tenant, small_catalog):
    first = owner_client.post(URL, {**CONTRACT_PAYLOAD, "name": "a"}, format="json").json()
    second = owner_client.post(URL, {**CONTRACT_PAYLOAD, "name": "b"}, format="json").json()
    assert second["is_default"] is True
    defaults = list(RoutingConfig.objects.filter(tenant=tenant, is_default=True))
    assert [c.pk for c in defaults] == [second["id"]]
    response = owner_client.patch(f"{URL}{first['id']}/", {"is_default": True}, format="json")
    assert response.status_code == 200
    assert list(
        RoutingConfig.objects.filter(tenant=tenant, is_default=True).values_list("pk", flat=True)
    ) == [first["id"]]


def test_default_of_other_tenant_untouched(owner_client, foreign_config, small_catalog):
    foreign_config.is_default = True
    foreign_config.save()
    owner_client.post(URL, CONTRACT_PAYLOAD, format="json")
    foreign_config.refresh_from_db()
    assert foreign_config.is_default is True


def test_etag_and_if_match(owner_client, config):
    got = owner_client.get(f"{URL}{config.pk}/")
    etag = got["ETag"]
    assert etag
    fresh = owner_client.patch(
        f"{URL}{config.pk}/", {"cache_ttl_seconds": 60}, format="json", HTTP_IF_MATCH=etag
    )
    assert fresh.status_code == 200, fresh.content
    assert fresh["ETag"] != etag
    stale = owner_client.patch(
        f"{URL}{config.pk}/", {"cache_ttl_seconds": 5}, format="json", HTTP_IF_MATCH=etag
    )
    assert_error(stale, 409, "conflict")
    config.refresh_from_db()
    assert config.cache_ttl_seconds == 60


def test_updated_at_precondition(owner_client, config):
    read = owner_client.get(f"{URL}{config.pk}/").json()
    ok = owner_client.put(
        f"{URL}{config.pk}/",
        {"name": "plan", "primary_model": "gpt-4.1", "updated_at": read["updated_at"]},
        format="json",
    )
    assert ok.status_code == 200, ok.content
    stale = owner_client.put(
        f"{URL}{config.pk}/",
        {"name": "plan", "primary_model": "gpt-4o-mini", "updated_at": read["updated_at"]},
        format="json",
    )
    assert_error(stale, 409, "conflict")
    config.refresh_from_db()
    assert config.primary_model == "gpt-4.1"


def test_viewer_reads_but_cannot_write(member_client, config):
    assert member_client.get(URL).json()["results"][0]["name"] == "plan"
    assert member_client.get(f"{URL}{config.pk}/").status_code == 200
    assert_error(
        member_client.post(URL, {"name": "x", "primary_model": "gpt-4.1"}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(
        member_client.patch(f"{URL}{config.pk}/", {"use_byok": True}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(member_client.delete(f"{URL}{config.pk}/"), 403, "permission_denied")
    assert RoutingConfig.objects.filter(pk=config.pk, use_byok=False).exists()


def test_outsider_gets_404_and_never_sees_it(outsider_client, config):
    listed = outsider_client.get(URL).json()
    assert listed["count"] == 0 and listed["results"] == []
    for method in ("get", "put", "patch", "delete"):
        response = getattr(outsider_client, method)(
            f"{URL}{config.pk}/", {"use_byok": True}, format="json"
        )
        assert_error(response, 404, "not_found")
    assert RoutingConfig.objects.filter(pk=config.pk).exists()


def test_owner_never_sees_other_tenants_config(owner_client, config, foreign_config):
    names = [c["name"] for c in owner_client.get(URL).json()["results"]]
    assert names == ["plan"]
    assert_error(owner_client.get(f"{URL}{foreign_config.pk}/"), 404, "not_found")


def test_delete(owner_client, config):
    response = owner_client.delete(f"{URL}{config.pk}/")
    assert response.status_code == 204
    assert not RoutingConfig.objects.filter(pk=config.pk).exists()


def test_key_scopes(key_client, config, small_catalog):
    reader = key_client("read")
    assert reader.get(URL).status_code == 200
    assert_error(
        reader.post(URL, {"name": "x", "primary_model": "gpt-4.1"}, format="json"),
        403,
        "permission_denied",
    )
    manager = key_client("read", "manage")
    response = manager.post(URL, {"name": "x", "primary_model": "gpt-4.1"}, format="json")
    assert response.status_code == 201
    assert_error(key_client("inference").get(URL), 403, "permission_denied")


def test_operator_sees_all_and_must_name_tenant_to_write(
    operator_client, config, foreign_config, tenant
):
    names = {c["name"] for c in operator_client.get(URL).json()["results"]}
    assert names == {"plan", "secret-plan"}
    payload = {"name": "ops", "primary_model": "gpt-4.1"}
    assert_error(operator_client.post(URL, payload, format="json"), 400, "invalid_request")
    response = operator_client.post(URL, payload, format="json", HTTP_X_TOLLGATE_TENANT="acme")
    assert response.status_code == 201
    assert RoutingConfig.objects.get(name="ops").tenant == tenant


def test_pagination_is_stable(owner_client, tenant, small_catalog):
    for i in range(5):
        RoutingConfig.objects.create(tenant=tenant, name=f"c{i}", primary_model="gpt-4.1")
    first = owner_client.get(URL, {"page_size": 2}).json()
    second = owner_client.get(URL, {"page_size": 2, "page": 2}).json()
    assert first["count"] == 5
    names = [c["name"] for c in first["results"] + second["results"]]
    assert names == ["c0", "c1", "c2", "c3"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_default_switches_leave_exactly_one(tenant, owner, small_catalog):
    """Eight requests make eight configs the default at once: all succeed, one default stays."""
    import threading

    from django.db import connection, connections
    from rest_framework.test import APIClient

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    configs = [
        RoutingConfig.objects.create(tenant=tenant, name=f"c{i}", primary_model="gpt-4.1")
        for i in range(8)
    ]
    statuses = []
    barrier = threading.Barrier(len(configs))

    def switch(config):
        client = APIClient()
        client.force_login(owner)
        barrier.wait()
        response = client.patch(f"{URL}{config.pk}/", {"is_default": True}, format="json")
        statuses.append(response.status_code)
        connections.close_all()

    threads = [threading.Thread(target=switch, args=(c,)) for c in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * len(configs)
    assert RoutingConfig.objects.filter(tenant=tenant, is_default=True).count() == 1
