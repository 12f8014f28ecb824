"""The console's API keys, BYOK credentials and members pages: who may see them (members and
operators; anyone else a 404), who may change (owners and admins; viewers get 403), that
writes go through the services (audit entries) and that no secret is ever rendered back."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from llm.models import Provider
from tenants.models import AuditEntry, Membership, ProviderCredential, TenantApiKey
from tenants.services import api_key_create, credential_set

BYOK = "sk-console-unit-secret-abcd-4321"


@pytest.fixture
def credential(tenant, edge_case_catalog):
    provider = Provider.objects.get(slug="openai")
    return credential_set(tenant=tenant, provider=provider, api_key=BYOK)


@pytest.fixture
def key(tenant):
    key, _secret = api_key_create(tenant=tenant, scopes=["inference"], name="ci")
    return key


def _url(name, tenant, **kwargs):
    return reverse(f"console:{name}", kwargs={"slug": tenant.slug, **kwargs})


def _write_urls(tenant, key, credential, membership):
    return [
        _url("keys", tenant),
        _url("key-revoke", tenant, key_id=key.pk),
        _url("key-access", tenant, key_id=key.pk),
        _url("credentials", tenant),
        _url("credential-rotate", tenant, credential_id=credential.pk),
        _url("credential-active", tenant, credential_id=credential.pk),
        _url("members", tenant),
        _url("member-role", tenant, membership_id=membership.pk),
        _url("member-remove", tenant, membership_id=membership.pk),
    ]


def test_outsider_gets_404_for_every_read_and_write(
    client, tenant, owner, outsider, key, credential
):
    client.force_login(outsider)
    membership = Membership.objects.get(user=owner)
    for name in ("keys", "credentials", "members"):
        assert client.get(_url(name, tenant)).status_code == 404, name
    for url in _write_urls(tenant, key, credential, membership):
        assert client.post(url, {"role": "viewer", "active": "0"}).status_code == 404, url
    assert TenantApiKey.objects.get(pk=key.pk).revoked_at is None
    assert ProviderCredential.objects.get(pk=credential.pk).is_active


def test_viewer_reads_but_cannot_write(client, tenant, owner, member, key, credential):
    client.force_login(member)
    for name, form_id in (
        ("keys", "tg-key-form"),
        ("credentials", "tg-credential-form"),
        ("members", "tg-member-form"),
    ):
        response = client.get(_url(name, tenant))
        assert response.status_code == 200, name
        assert form_id not in response.content.decode(), name
    membership = Membership.objects.get(user=owner)
    before = AuditEntry.objects.count()
    for url in _write_urls(tenant, key, credential, membership):
        assert client.post(url, {"role": "viewer", "scopes": ["read"]}).status_code == 403, url
    assert AuditEntry.objects.count() == before
    assert Membership.objects.get(user=owner).role == Membership.Role.OWNER


def test_api_key_secret_shown_once(client, tenant, owner):
    client.force_login(owner)
    response = client.post(
        _url("keys", tenant),
        {
            "name": "billing-app",
            "scopes": ["inference", "read"],
            "allowed_models": "openai/gpt-4o-mini",
        },
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    secret = re.search(r'id="tg-secret">(tg_[A-Za-z0-9_-]+)<', page).group(1)
    key = TenantApiKey.objects.get(tenant=tenant, name="billing-app")
    assert secret.startswith(key.prefix)
    assert key.scopes == ["inference", "read"] and key.allowed_models == ["openai/gpt-4o-mini"]
    assert key.created_by == owner
    assert client.get(_url("keys", tenant)).content.decode().count(secret) == 0
    entry = AuditEntry.objects.filter(object_type="api_key", action="create").get()
    assert entry.actor == "alice" and secret not in str(entry.changes)


def test_api_key_errors_name_the_field(client, tenant, owner):
    client.force_login(owner)
    response = client.post(_url("keys", tenant), {"name": "x", "scopes": ["fly"]})
    assert response.status_code == 400
    assert 'data-error-path="scopes[0]"' in response.content.decode()
    assert not TenantApiKey.objects.filter(tenant=tenant).exists()


def test_api_key_revoke_and_access(client, tenant, owner, key):
    client.force_login(owner)
    client.post(
        _url("key-access", tenant, key_id=key.pk),
        {"allowed_models": "openai/gpt-4o-mini, anthropic/claude-haiku-4-5", "allowed_configs": ""},
    )
    key.refresh_from_db()
    assert key.allowed_models == ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
    assert client.post(_url("key-revoke", tenant, key_id=key.pk)).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    page = client.get(_url("keys", tenant)).content.decode()
    assert "revoked" in page
    changed = AuditEntry.objects.filter(object_type="api_key", action="update")
    assert {field for e in changed for field in e.changes} >= {"allowed_models", "revoked_at"}


def test_credential_added_rotated_deactivated_never_echoed(
    client, tenant, owner, edge_case_catalog
):
    client.force_login(owner)
    url = _url("credentials", tenant)
    # A refused save does not render the key back.
    refused = client.post(
        url, {"provider": "openai", "api_key": BYOK, "base_url": "ftp://example.com/"}
    )
    assert refused.status_code == 400
    assert BYOK not in refused.content.decode()
    assert 'data-error-path="base_url"' in refused.content.decode()
    assert client.post(url, {"provider": "openai", "api_key": BYOK}).status_code == 302
    credential = ProviderCredential.objects.get(tenant=tenant)
    assert credential.last4 == "4321"
    page = client.get(url).content.decode()
    assert BYOK not in page and BYOK[:-4] not in page and "…4321" in page
    rotate = _url("credential-rotate", tenant, credential_id=credential.pk)
    assert client.post(rotate, {"api_key": "sk-rotated-key-0000-9999"}).status_code == 302
    credential.refresh_from_db()
    assert credential.last4 == "9999" and credential.rotated_at is not None
    active = _url("credential-active", tenant, credential_id=credential.pk)
    client.post(active, {"active": "0"})
    credential.refresh_from_db()
    assert not credential.is_active
    actions = list(
        AuditEntry.objects.filter(object_type="credential")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[0] == "create" and actions.count("update") >= 2


def test_credential_health_is_shown(client, tenant, owner, credential):
    at = timezone.now() - timedelta(minutes=5)
    ProviderCredential.objects.filter(pk=credential.pk).update(
        last_success_at=at, last_failure_at=at + timedelta(minutes=1), last_failure_kind="auth"
    )
    client.force_login(owner)
    page = client.get(_url("credentials", tenant)).content.decode()
    row = re.search(rf'data-credential="{credential.pk}".*?</tr>', page, re.S).group(0)
    local = timezone.localtime(at, tenant.tzinfo)
    assert local.strftime("%Y-%m-%d %H:%M:%S") in row
    assert '<span class="tg-badge">auth</span>' in row


def test_members_add_change_remove(client, tenant, owner, django_user_model):
    carol = django_user_model.objects.create_user(username="carol", email="carol@example.com")
    client.force_login(owner)
    url = _url("members", tenant)
    assert client.post(url, {"login": "carol@example.com", "role": "viewer"}).status_code == 302
    membership = Membership.objects.get(tenant=tenant, user=carol)
    carol.refresh_from_db()
    assert membership.role == "viewer" and carol.is_staff
    unknown = client.post(url, {"login": "nobody", "role": "viewer"})
    assert unknown.status_code == 400 and "No active user" in unknown.content.decode()
    client.post(_url("member-role", tenant, membership_id=membership.pk), {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == "admin"
    client.post(_url("member-remove", tenant, membership_id=membership.pk))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    actions = set(
        AuditEntry.objects.filter(object_type="membership").values_list("action", flat=True)
    )
    assert actions >= {"create", "update", "delete"}


def test_the_last_owner_stays(client, tenant, owner, django_user_model):
    client.force_login(owner)
    own = Membership.objects.get(user=owner)
    client.post(_url("member-role", tenant, membership_id=own.pk), {"role": "admin"})
    client.post(_url("member-remove", tenant, membership_id=own.pk))
    own.refresh_from_db()
    assert own.role == Membership.Role.OWNER
    # An admin may not touch the owner role at all.
    dave = django_user_model.objects.create_user(username="dave", is_staff=True)
    Membership.objects.create(tenant=tenant, user=dave, role=Membership.Role.ADMIN)
    client.force_login(dave)
    client.post(_url("member-role", tenant, membership_id=own.pk), {"role": "viewer"})
    response = client.post(_url("members", tenant), {"login": "dave2", "role": "owner"})
    assert response.status_code == 400
    own.refresh_from_db()
    assert own.role == Membership.Role.OWNER


def test_operator_sees_every_page(client, tenant, operator, key, credential):
    client.force_login(operator)
    for name in ("keys", "credentials", "members"):
        assert client.get(_url(name, tenant)).status_code == 200, name
