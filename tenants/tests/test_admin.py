"""Admin scoping: tenant A's admins see and touch only A's rows; B's objects are a 404."""

import pytest
from django.urls import reverse

from llm.models import RoutingConfig
from tenants.models import Membership, ProviderCredential, Tenant, TenantApiKey
from tenants.services import (
    api_key_authenticate,
    api_key_create,
    credential_secret,
    credential_set,
    membership_set,
)

PLAINTEXT = "sk-live-plaintext-secret-4242"


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def world(tenant, other_tenant, owner, member, outsider, openai_provider):
    """Each tenant with a routing config, a BYOK credential and an API key."""
    rows = {}
    for t in (tenant, other_tenant):
        rows[t.slug] = {
            "config": RoutingConfig.objects.create(
                tenant=t, name=f"cfg-{t.slug}", primary_model="openai/gpt-4o-mini"
            ),
            "credential": credential_set(
                tenant=t, provider=openai_provider, api_key=f"sk-{t.slug}-key-000{t.pk}"
            ),
            "key": api_key_create(tenant=t, scopes=["inference"], name=f"key-{t.slug}")[0],
        }
    return rows


# --- scoping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changelist", "a_text", "b_text"),
    [
        ("llm_routingconfig_changelist", "cfg-acme", "cfg-globex"),
        ("tenants_tenantapikey_changelist", "key-acme", "key-globex"),
        ("tenants_membership_changelist", "alice", "mallory"),
        ("tenants_tenant_changelist", "Acme Corp", "Globex"),
    ],
)
def test_changelists_hold_only_own_tenant(client, owner, world, changelist, a_text, b_text):
    client.force_login(owner)
    body = client.get(url(changelist)).content.decode()
    assert a_text in body
    assert b_text not in body


def test_credential_changelist_only_own_tenant(client, owner, world):
    client.force_login(owner)
    body = client.get(url("tenants_providercredential_changelist")).content.decode()
    own, other = world["acme"]["credential"], world["globex"]["credential"]
    assert f"…{own.last4}" in body
    assert f"…{other.last4}" not in body
    assert url("tenants_providercredential_change", other.pk) not in body


@pytest.mark.parametrize("kind", ["config", "credential", "key"])
@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_other_tenants_object_is_404(client, owner, world, kind, view):
    obj = world["globex"][kind]
    client.force_login(owner)
    name = f"{obj._meta.app_label}_{obj._meta.model_name}_{view}"
    assert client.get(url(name, obj.pk)).status_code == 404
    own = world["acme"][kind]
    # Own objects open (API keys are revoked, not deleted, by tenant admins: a 403).
    expected = 403 if (kind, view) == ("key", "delete") else 200
    assert client.get(url(name, own.pk)).status_code == expected


def test_other_tenants_membership_and_tenant_are_404(client, owner, outsider, other_tenant):
    client.force_login(owner)
    b_membership = Membership.objects.get(user=outsider)
    assert client.get(url("tenants_membership_change", b_membership.pk)).status_code == 404
    assert client.get(url("tenants_tenant_change", other_tenant.pk)).status_code == 404


def test_post_to_other_tenants_objects_is_404_and_changes_nothing(client, owner, world):
    client.force_login(owner)
    config = world["globex"]["config"]
    response = client.post(
        url("llm_routingconfig_change", config.pk),
        {"name": "hijacked", "primary_model": "openai/gpt-4o-mini", "cache_ttl_seconds": 0},
    )
    assert response.status_code == 404
    config.refresh_from_db()
    assert config.name == "cfg-globex"

    credential = world["globex"]["credential"]
    before = credential.encrypted_key
    response = client.post(
        url("tenants_providercredential_change", credential.pk),
        {"api_key": "sk-attacker-key-123456", "base_url": "", "is_active": "on"},
    )
    assert response.status_code == 404
    credential.refresh_from_db()
    assert credential.encrypted_key == before and credential.rotated_at is None

    key = world["globex"]["key"]
    response = client.post(url("tenants_tenantapikey_delete", key.pk), {"post": "yes"})
    assert response.status_code == 404
    assert TenantApiKey.objects.filter(pk=key.pk).exists()
    response = client.post(url("llm_routingconfig_delete", config.pk), {"post": "yes"})
    assert response.status_code == 404
    assert RoutingConfig.objects.filter(pk=config.pk).exists()


def test_add_forms_offer_only_own_tenant(client, owner, world, django_user_model):
    # A user managing two tenants chooses between them, never the third.
    third = Tenant.objects.create(slug="initech", name="Initech")
    membership_set(tenant=third, user=owner, role=Membership.Role.ADMIN)
    client.force_login(owner)
    for name in (
        "llm_routingconfig_add",
        "tenants_providercredential_add",
        "tenants_tenantapikey_add",
        "tenants_membership_add",
    ):
        form = client.get(url(name)).context["adminform"].form
        choices = {str(t) for t in form.fields["tenant"].queryset}
        assert choices == {"acme", "initech"}, name
    body = client.get(url("tenants_providercredential_add")).content.decode()
    assert "globex" not in body


def test_single_tenant_admin_gets_tenant_set(client, owner, openai_provider, tenant):
    client.force_login(owner)
    form = client.get(url("tenants_tenantapikey_add")).context["adminform"].form
    assert form.fields["tenant"].disabled
    response = client.post(
        url("tenants_tenantapikey_add"), {"name": "ci", "scopes": ["inference", "read"]}
    )
    assert response.status_code == 200
    key = TenantApiKey.objects.get(name="ci")
    assert key.tenant == tenant and key.scopes == ["inference", "read"]


def test_forged_tenant_in_post_is_rejected(client, owner, other_tenant, tenant):
    third = Tenant.objects.create(slug="initech", name="Initech")
    membership_set(tenant=third, user=owner, role=Membership.Role.ADMIN)
    client.force_login(owner)
    response = client.post(
        url("tenants_tenantapikey_add"),
        {"tenant": other_tenant.pk, "name": "forged", "scopes": ["inference"]},
    )
    assert response.status_code == 200
    assert "tenant" in response.context["adminform"].form.errors
    assert not TenantApiKey.objects.filter(name="forged").exists()


def test_viewer_reads_but_cannot_change(client, member, world):
    client.force_login(member)
    config = world["acme"]["config"]
    assert client.get(url("llm_routingconfig_changelist")).status_code == 200
    page = client.get(url("llm_routingconfig_change", config.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(
        url("llm_routingconfig_change", config.pk),
        {
            "tenant": config.tenant_id,
            "name": "renamed",
            "primary_model": "x",
            "cache_ttl_seconds": 0,
        },
    )
    assert response.status_code == 403
    config.refresh_from_db()
    assert config.name == "cfg-acme"
    assert client.get(url("llm_routingconfig_add")).status_code == 403
    assert client.get(url("tenants_providercredential_add")).status_code == 403
    response = client.post(url("llm_routingconfig_delete", config.pk), {"post": "yes"})
    assert response.status_code == 403
    assert RoutingConfig.objects.filter(pk=config.pk).exists()


def test_staff_without_membership_sees_nothing(client, django_user_model, world):
    loner = django_user_model.objects.create_user(username="loner", password="x", is_staff=True)
    client.force_login(loner)
    assert client.get(url("llm_routingconfig_changelist")).status_code == 403
    assert client.get(url("llm_routingconfig_change", world["acme"]["config"].pk)).status_code in (
        403,
        404,
    )


def test_tenant_admin_needs_no_django_permissions(client, owner, world):
    assert not owner.user_permissions.exists() and not owner.is_superuser
    client.force_login(owner)
    index = client.get(url("index"))
    assert index.status_code == 200
    model_names = {m["object_name"] for app in index.context["app_list"] for m in app["models"]}
    assert {"RoutingConfig", "ProviderCredential", "TenantApiKey", "Membership"} <= model_names
    assert "User" not in model_names


def test_operator_sees_everything(client, operator, world):
    client.force_login(operator)
    body = client.get(url("llm_routingconfig_changelist")).content.decode()
    assert "cfg-acme" in body and "cfg-globex" in body
    body = client.get(url("tenants_tenantapikey_changelist")).content.decode()
    assert "key-acme" in body and "key-globex" in body
    b_config = world["globex"]["config"]
    assert client.get(url("llm_routingconfig_change", b_config.pk)).status_code == 200


# --- BYOK credentials --------------------------------------------------------------------------


def test_credential_is_encrypted_and_never_shown(client, owner, tenant, openai_provider):
    client.force_login(owner)
    add = client.get(url("tenants_providercredential_add"))
    assert 'type="password"' in add.content.decode()
    response = client.post(
        url("tenants_providercredential_add"),
        {"provider": openai_provider.pk, "api_key": PLAINTEXT, "base_url": "", "is_active": "on"},
    )
    assert response.status_code == 302
    credential = ProviderCredential.objects.get(tenant=tenant, provider=openai_provider)
    assert credential.encrypted_key != PLAINTEXT and PLAINTEXT not in credential.encrypted_key
    assert credential_secret(credential=credential) == PLAINTEXT
    assert credential.last4 == PLAINTEXT[-4:] and credential.created_by == owner

    pages = [
        url("tenants_providercredential_changelist"),
        url("tenants_providercredential_add"),
        url("tenants_providercredential_change", credential.pk),
        url("tenants_providercredential_history", credential.pk),
        url("tenants_providercredential_delete", credential.pk),
    ]
    for page in pages:
        body = client.get(page).content.decode()
        assert PLAINTEXT not in body, page
        assert credential.encrypted_key not in body, page
        assert credential.encrypted_key.split(":")[-1][:24] not in body, page
    assert f"…{PLAINTEXT[-4:]}" in client.get(pages[0]).content.decode()


def test_credential_form_errors_do_not_echo_the_key(client, owner, openai_provider):
    client.force_login(owner)
    response = client.post(
        url("tenants_providercredential_add"),
        {
            "provider": openai_provider.pk,
            "api_key": PLAINTEXT,
            "base_url": "ftp://nope",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert PLAINTEXT not in response.content.decode()
    assert not ProviderCredential.objects.exists()


def test_credential_rotation_and_keep(client, owner, tenant, openai_provider):
    credential = credential_set(
        tenant=tenant, provider=openai_provider, api_key="sk-first-key-0001"
    )
    client.force_login(owner)
    change = url("tenants_providercredential_change", credential.pk)
    # Empty key: the stored key stays, only the flag changes.
    response = client.post(change, {"api_key": "", "base_url": ""})
    assert response.status_code == 302
    credential.refresh_from_db()
    assert not credential.is_active and credential.rotated_at is None
    assert credential_secret(credential=credential) == "sk-first-key-0001"
    # A new key rotates.
    response = client.post(
        change, {"api_key": "sk-second-key-0002", "base_url": "", "is_active": "on"}
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential_secret(credential=credential) == "sk-second-key-0002"
    assert credential.rotated_by == owner and credential.rotated_at is not None
    assert credential.last4 == "0002" and credential.is_active
    assert ProviderCredential.objects.count() == 1


def test_credential_base_url_change_requires_the_key(client, owner, tenant, openai_provider):
    credential = credential_set(
        tenant=tenant, provider=openai_provider, api_key="sk-first-key-0001"
    )
    client.force_login(owner)
    response = client.post(
        url("tenants_providercredential_change", credential.pk),
        {"api_key": "", "base_url": "http://127.0.0.1:9999/v1", "is_active": "on"},
    )
    assert response.status_code == 200
    assert "api_key" in response.context["adminform"].form.errors
    credential.refresh_from_db()
    assert credential.base_url == ""


def test_duplicate_credential_is_a_form_error(client, owner, tenant, openai_provider):
    credential_set(tenant=tenant, provider=openai_provider, api_key="sk-first-key-0001")
    client.force_login(owner)
    response = client.post(
        url("tenants_providercredential_add"),
        {"provider": openai_provider.pk, "api_key": PLAINTEXT, "is_active": "on"},
    )
    assert response.status_code == 200
    assert "provider" in response.context["adminform"].form.errors
    credential = ProviderCredential.objects.get()
    assert credential_secret(credential=credential) == "sk-first-key-0001"


# --- API keys ----------------------------------------------------------------------------------


def test_api_key_secret_shown_once(client, owner, tenant):
    client.force_login(owner)
    response = client.post(
        url("tenants_tenantapikey_add"),
        {"name": "backend", "scopes": ["inference"], "rpm_limit": "60"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert secret.startswith("tg_") and secret in response.content.decode()
    key = api_key_authenticate(secret=secret)
    assert key is not None and key.tenant == tenant and key.rpm_limit == 60
    assert key.created_by == owner
    for page in (
        url("tenants_tenantapikey_changelist"),
        url("tenants_tenantapikey_change", key.pk),
        url("tenants_tenantapikey_history", key.pk),
        url("index"),
    ):
        body = client.get(page).content.decode()
        assert secret not in body, page
        assert secret[len(key.prefix) :] not in body, page
    assert key.prefix in client.get(url("tenants_tenantapikey_changelist")).content.decode()


def test_api_key_scopes_validated(client, owner):
    client.force_login(owner)
    response = client.post(url("tenants_tenantapikey_add"), {"name": "x", "scopes": ["root"]})
    assert response.status_code == 200
    assert "scopes" in response.context["adminform"].form.errors
    assert not TenantApiKey.objects.exists()


def test_revoke_action(client, owner, world):
    own, other = world["acme"]["key"], world["globex"]["key"]
    client.force_login(owner)
    response = client.post(
        url("tenants_tenantapikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [own.pk, other.pk]},
    )
    assert response.status_code == 302
    own.refresh_from_db()
    other.refresh_from_db()
    assert own.revoked_at is not None
    assert other.revoked_at is None


def test_viewer_cannot_revoke(client, member, world):
    key = world["acme"]["key"]
    client.force_login(member)
    client.post(
        url("tenants_tenantapikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [key.pk]},
    )
    key.refresh_from_db()
    assert key.revoked_at is None


# --- members -----------------------------------------------------------------------------------


def test_tenant_admin_invites_by_username(client, owner, tenant, outsider, django_user_model):
    client.force_login(owner)
    add = client.get(url("tenants_membership_add"))
    assert "mallory" not in add.content.decode()  # no list of other tenants' users
    response = client.post(
        url("tenants_membership_add"),
        {
            "username": "carol",
            "email": "c@example.com",
            "password": "pw-carol-123",
            "role": "admin",
        },
    )
    assert response.status_code == 302
    carol = django_user_model.objects.get(username="carol")
    assert carol.is_staff and carol.check_password("pw-carol-123")
    assert Membership.objects.get(user=carol).tenant == tenant
    # The new admin logs in and sees the tenant's keys.
    client.force_login(carol)
    assert client.get(url("tenants_tenantapikey_changelist")).status_code == 200


def test_admin_cannot_grant_owner(client, tenant, owner, django_user_model):
    admin_user = django_user_model.objects.create_user(username="dan", password="x", is_staff=True)
    membership_set(tenant=tenant, user=admin_user, role=Membership.Role.ADMIN)
    client.force_login(admin_user)
    response = client.post(
        url("tenants_membership_add"),
        {"username": "eve", "password": "pw-eve-12345", "role": "owner"},
    )
    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors
    assert not django_user_model.objects.filter(username="eve").exists()
    owner_membership = Membership.objects.get(user=owner)
    assert client.get(url("tenants_membership_delete", owner_membership.pk)).status_code == 403


def test_last_owner_cannot_be_demoted(client, owner, tenant):
    membership = Membership.objects.get(user=owner)
    client.force_login(owner)
    response = client.post(
        url("tenants_membership_change", membership.pk), {"tenant": tenant.pk, "role": "viewer"}
    )
    assert response.status_code == 200
    membership.refresh_from_db()
    assert membership.role == Membership.Role.OWNER


def test_tenant_admin_edits_own_tenant_but_not_status(client, owner, tenant):
    client.force_login(owner)
    response = client.post(
        url("tenants_tenant_change", tenant.pk),
        {
            "name": "Acme Renamed",
            "timezone": "UTC",
            "alert_email": "ops@acme.test",
            "alert_webhook_url": "",
            "status": "suspended",
            "markup_pct": "50",
        },
    )
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.name == "Acme Renamed"
    assert tenant.status == Tenant.Status.ACTIVE and tenant.markup_pct == 0
    assert client.get(url("tenants_tenant_add")).status_code == 403


@pytest.mark.parametrize(
    ("app_label", "model_name", "field_name"),
    [
        ("llm", "routingconfig", "tenant"),
        ("billing", "budget", "config"),
        ("billing", "budget", "api_key"),
        ("tenants", "membership", "user"),
    ],
)
def test_autocomplete_never_lists_other_tenants(
    client, owner, world, app_label, model_name, field_name
):
    client.force_login(owner)
    response = client.get(
        url("autocomplete"),
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": ""},
    )
    if response.status_code != 200:
        assert response.status_code in (403, 404)  # no autocomplete for this user at all
        return
    texts = " ".join(r["text"] for r in response.json()["results"])
    assert "globex" not in texts and "mallory" not in texts
    assert texts  # own rows are listed


def test_filters_offer_only_own_tenants(client, owner, world):
    third = Tenant.objects.create(slug="initech", name="Initech")
    membership_set(tenant=third, user=owner, role=Membership.Role.VIEWER)
    RoutingConfig.objects.create(tenant=third, name="cfg-initech", primary_model="a/b")
    client.force_login(owner)
    body = client.get(url("llm_routingconfig_changelist")).content.decode()
    assert "initech" in body and "globex" not in body


def test_tenant_admin_logs_in_with_password(client, owner, world):
    response = client.post(
        url("login"), {"username": "alice", "password": "pw-alice-123", "next": url("index")}
    )
    assert response.status_code == 302
    body = client.get(url("tenants_providercredential_changelist")).content.decode()
    assert f"…{world['acme']['credential'].last4}" in body
