"""The alert-webhook signing secret: encrypted at rest and bound to its tenant, replaced by a
rotation, re-encrypted by rotate_encryption_keys."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from config.keygen import new_key
from core.errors import SecretDecryptionError
from tenants import crypto
from tenants.models import Tenant
from tenants.webhook_secrets import webhook_secret_get, webhook_secret_rotate


def test_secret_is_encrypted_and_bound_to_its_tenant(tenant, other_tenant):
    assert webhook_secret_get(tenant=tenant) is None
    secret = webhook_secret_rotate(tenant=tenant)
    stored = Tenant.objects.get(pk=tenant.pk)
    assert secret not in stored.alert_webhook_secret
    assert webhook_secret_get(tenant=stored) == secret
    Tenant.objects.filter(pk=other_tenant.pk).update(
        alert_webhook_secret=stored.alert_webhook_secret
    )
    with pytest.raises(SecretDecryptionError):
        webhook_secret_get(tenant=Tenant.objects.get(pk=other_tenant.pk))


def test_rotate_encryption_keys_re_encrypts_webhook_secrets(tenant):
    secret = webhook_secret_rotate(tenant=tenant)
    old_raw = settings.TOLLGATE_ENCRYPTION_KEYS[0]
    new = new_key()
    with override_settings(TOLLGATE_ENCRYPTION_KEYS=[new, old_raw]):
        call_command("rotate_encryption_keys", verbosity=0)
        row = Tenant.objects.get(pk=tenant.pk)
        assert crypto.key_id_of(row.alert_webhook_secret) == crypto.newest_key_id()
    with override_settings(TOLLGATE_ENCRYPTION_KEYS=[new]):
        assert webhook_secret_get(tenant=Tenant.objects.get(pk=tenant.pk)) == secret
