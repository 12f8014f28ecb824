from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tenants.models import Tenant, TenantApiKey
from tenants.services import api_key_authenticate, api_key_create, api_key_hash, api_key_revoke


def test_secret_shape_and_only_hash_stored(tenant):
    key, secret = api_key_create(tenant=tenant, scopes=["inference"])
    assert secret.startswith("tg_") and len(secret) >= 43
    stored = TenantApiKey.objects.get(pk=key.pk)
    assert stored.key_hash == api_key_hash(secret)
    assert secret not in stored.key_hash
    assert secret.startswith(stored.prefix) and len(stored.prefix) < len(secret) // 3
    # The secret appears in no column.
    for value in TenantApiKey.objects.filter(pk=key.pk).values().first().values():
        assert secret != value


def test_hash_is_keyed(settings):
    digest = api_key_hash("tg_example")
    settings.SECRET_KEY = "another-secret"
    assert api_key_hash("tg_example") != digest


def test_lookup_by_full_secret(tenant):
    key, secret = api_key_create(tenant=tenant, scopes=["inference", "read"])
    found = api_key_authenticate(secret=secret)
    assert found is not None and found.pk == key.pk and found.tenant == tenant
    assert api_key_authenticate(secret=secret[:-1] + ("a" if secret[-1] != "a" else "b")) is None
    assert api_key_authenticate(secret=secret[:20]) is None
    assert api_key_authenticate(secret="sk-not-ours") is None


def test_revoked_expired_and_suspended_keys_fail(tenant):
    revoked, revoked_secret = api_key_create(tenant=tenant, scopes=["inference"])
    api_key_revoke(key=revoked)
    assert api_key_authenticate(secret=revoked_secret) is None

    _, expired_secret = api_key_create(
        tenant=tenant, scopes=["inference"], expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert api_key_authenticate(secret=expired_secret) is None

    _, live_secret = api_key_create(tenant=tenant, scopes=["inference"])
    assert api_key_authenticate(secret=live_secret) is not None
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.SUSPENDED)
    assert api_key_authenticate(secret=live_secret) is None


@pytest.mark.parametrize("scopes", [[], ["inference", "admin"]])
def test_scopes_are_validated(tenant, scopes):
    with pytest.raises(ValidationError) as excinfo:
        api_key_create(tenant=tenant, scopes=scopes)
    assert "scopes" in excinfo.value.message_dict
