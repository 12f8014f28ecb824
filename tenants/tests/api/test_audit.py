"""audit/: configuration changes made through the API and the admin, who made them and how,
secrets as "***"; the owner and members read their tenant's, outsiders none, operators all."""

import json

import pytest
from django.urls import reverse

from tenants.models import AuditEntry
from tests.support.api import assert_error

URL = "/api/v1/audit/"
SECRET = "sk-audit-secret-abcdefgh-1234"
CONTRACT_FIELDS = {"id", "at", "actor", "via", "action", "object_type", "object_id", "changes"}


@pytest.fixture
def changes(tenant, small_catalog, key_client):
    """Through the API with a manage key: a credential, an API key, a budget changed, a config
    deleted."""
    api = key_client("read", "manage")
    assert api.post(
        "/api/v1/credentials/", {"provider": "openai", "api_key": SECRET}, format="json"
    ).status_code in (200, 201)
    assert (
        api.post(
            "/api/v1/keys/", {"name": "ci", "scopes": ["inference"]}, format="json"
        ).status_code
        == 201
    )
    budget = api.post(
        "/api/v1/budgets/",
        {"scope": "tenant", "period": "daily", "limit_usd": "25.00"},
        format="json",
    ).json()
    assert (
        api.patch(
            f"/api/v1/budgets/{budget['id']}/", {"limit_usd": "30"}, format="json"
        ).status_code
        == 200
    )
    config = api.post(
        "/api/v1/configs/", {"name": "plan", "primary_model": "openai/gpt-4o-mini"}, format="json"
    ).json()
    assert api.delete(f"/api/v1/configs/{config['id']}/").status_code == 204
    return {"budget": budget["id"], "config": config["id"]}


def test_owner_reads_the_trail(owner_client, changes):
    body = owner_client.get(URL).json()
    # The fixtures' set-up (tenant, owner's membership, the manage key) ran outside a request.
    setup = [(e["object_type"], e["via"]) for e in body["results"][6:]]
    assert setup == [("api_key", "system"), ("membership", "system"), ("tenant", "system")]
    entries = body["results"][:6]
    assert all(set(e) >= CONTRACT_FIELDS for e in entries)
    assert [(e["object_type"], e["action"]) for e in entries] == [
        ("routing_config", "delete"),
        ("routing_config", "create"),
        ("budget", "update"),
        ("budget", "create"),
        ("api_key", "create"),
        ("credential", "create"),
    ]
    assert {e["via"] for e in entries} == {"api_key"}
    assert all(e["actor"].startswith("key tg_") for e in entries)
    update = entries[2]
    assert update["object_id"] == str(changes["budget"])
    assert update["changes"] == {"limit_usd": ["25.000000", "30.000000"]}
    credential = entries[5]["changes"]
    assert credential["encrypted_key"] == [None, "***"]
    assert credential["last4"] == [None, "1234"]
    assert SECRET not in json.dumps(body)
    assert entries[4]["changes"]["key_hash"] == [None, "***"]


def test_member_reads_outsider_sees_none(
    member_client, outsider_client, changes, tenant, other_tenant
):
    ours = set(AuditEntry.objects.filter(tenant_ref=tenant.pk).values_list("pk", flat=True))
    theirs = set(AuditEntry.objects.filter(tenant_ref=other_tenant.pk).values_list("pk", flat=True))
    assert {e["id"] for e in member_client.get(URL).json()["results"]} == ours
    assert {e["id"] for e in outsider_client.get(URL).json()["results"]} == theirs
    entry = AuditEntry.objects.filter(object_type="budget").first()
    assert member_client.get(f"{URL}{entry.pk}/").json()["object_type"] == "budget"
    assert_error(outsider_client.get(f"{URL}{entry.pk}/"), 404, "not_found")


def test_operator_reads_every_tenant(operator_client, changes, other_tenant, outsider):
    # the outsider fixture's membership is itself a recorded change of the other tenant
    body = operator_client.get(URL).json()
    tenants = {e.tenant_ref for e in AuditEntry.objects.all()}
    assert len(tenants) == 2 and body["count"] == AuditEntry.objects.count()


def test_read_scope_and_no_writes(key_client, changes):
    assert key_client("read").get(URL).status_code == 200
    assert_error(key_client("inference").get(URL), 403, "permission_denied")
    response = key_client("read", "manage").post(URL, {}, format="json")
    assert response.status_code == 405


def test_admin_changes_are_recorded_as_session(client, owner, tenant, small_catalog):
    client.force_login(owner)
    add = reverse("admin:tenants_providercredential_add")
    response = client.post(
        add,
        {
            "tenant": tenant.pk,
            "provider": small_catalog["openai"].pk,
            "api_key": SECRET,
            "base_url": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    entry = AuditEntry.objects.get(object_type="credential")
    assert (entry.action, entry.via, entry.actor, entry.actor_ref) == (
        "create",
        "session",
        "alice",
        owner.pk,
    )
    assert entry.changes["encrypted_key"] == [None, "***"]
    credential = tenant.credentials.get()
    change = reverse("admin:tenants_providercredential_change", args=[credential.pk])
    client.post(
        change,
        {
            "tenant": tenant.pk,
            "provider": small_catalog["openai"].pk,
            "api_key": SECRET + "x",
            "base_url": "",
        },
    )
    rotated = AuditEntry.objects.filter(object_type="credential", action="update").get()
    assert rotated.changes["encrypted_key"] == ["***", "***"]
    assert rotated.changes["is_active"] == [True, False]
    assert SECRET not in json.dumps(list(AuditEntry.objects.values("changes")))
    delete = reverse("admin:tenants_providercredential_delete", args=[credential.pk])
    client.post(delete, {"post": "yes"})
    assert AuditEntry.objects.filter(object_type="credential", action="delete").count() == 1


def test_admin_member_tenant_and_key_changes(client, owner, tenant):
    client.force_login(owner)
    client.post(
        reverse("admin:tenants_membership_add"),
        {"tenant": tenant.pk, "username": "carol", "password": "pw-carol-12345", "role": "viewer"},
    )
    client.post(
        reverse("admin:tenants_tenant_change", args=[tenant.pk]),
        {
            "name": "Acme Inc",
            "timezone": "Europe/Berlin",
            "alert_webhook_url": "",
            "alert_email": "",
        },
    )
    client.post(
        reverse("admin:tenants_tenantapikey_add"),
        {"tenant": tenant.pk, "name": "ci", "scopes": ["inference"]},
    )
    entries = {
        (e.object_type, e.action): e
        for e in AuditEntry.objects.filter(via="session", actor="alice")
    }
    assert entries[("membership", "create")].changes["role"] == [None, "viewer"]
    assert entries[("tenant", "update")].changes == {"name": ["Acme Corp", "Acme Inc"]}
    assert entries[("api_key", "create")].changes["key_hash"] == [None, "***"]
    assert all(e.tenant_ref == tenant.pk for e in entries.values())
