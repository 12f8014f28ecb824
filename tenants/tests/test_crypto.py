import pytest
from django.core.management import call_command
from django.test import override_settings

from config.keygen import new_key
from core.errors import SecretDecryptionError
from tenants import crypto
from tenants.models import ProviderCredential
from tenants.services import credential_secret, credential_set


def test_round_trip_with_associated_data():
    aad = crypto.associated_data(tenant_id=1, record_id=2)
    token = crypto.encrypt("sk-secret-value-1234", aad=aad)
    assert "sk-secret" not in token
    assert crypto.decrypt(token, aad=aad) == "sk-secret-value-1234"


def test_each_encryption_uses_a_fresh_nonce():
    aad = crypto.associated_data(tenant_id=1, record_id=2)
    assert crypto.encrypt("same", aad=aad) != crypto.encrypt("same", aad=aad)


def test_ciphertext_bound_to_row_and_tenant():
    token = crypto.encrypt("sk-abc12345", aad=crypto.associated_data(tenant_id=1, record_id=2))
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(token, aad=crypto.associated_data(tenant_id=1, record_id=3))
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(token, aad=crypto.associated_data(tenant_id=9, record_id=2))


def test_tampered_ciphertext_fails():
    aad = crypto.associated_data(tenant_id=1, record_id=2)
    token = crypto.encrypt("sk-abc12345", aad=aad)
    prefix, body = token.rsplit(":", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(f"{prefix}:{flipped}", aad=aad)


def test_credential_stored_encrypted_and_swapped_ciphertext_fails(
    tenant, other_tenant, openai_provider
):
    mine = credential_set(tenant=tenant, provider=openai_provider, api_key="sk-tenant-a-key-AAAA")
    theirs = credential_set(
        tenant=other_tenant, provider=openai_provider, api_key="sk-tenant-b-key-BBBB"
    )
    stored = ProviderCredential.objects.get(pk=mine.pk)
    assert "sk-tenant-a" not in stored.encrypted_key
    assert stored.last4 == "AAAA"
    assert credential_secret(credential=stored) == "sk-tenant-a-key-AAAA"

    # An attacker with database access copies B's ciphertext into A's row.
    ProviderCredential.objects.filter(pk=mine.pk).update(encrypted_key=theirs.encrypted_key)
    with pytest.raises(SecretDecryptionError):
        credential_secret(credential=ProviderCredential.objects.get(pk=mine.pk))


def test_rotation_re_encrypts_everything_with_the_newest_key(tenant, other_tenant, openai_provider):
    old_key, new = crypto.encryption_keys()[0], new_key()
    a = credential_set(tenant=tenant, provider=openai_provider, api_key="sk-rotate-me-1111")
    b = credential_set(tenant=other_tenant, provider=openai_provider, api_key="sk-rotate-me-2222")
    from django.conf import settings

    old_raw = settings.TOLLGATE_ENCRYPTION_KEYS[0]
    with override_settings(TOLLGATE_ENCRYPTION_KEYS=[new, old_raw]):
        # Before rotation the old key still decrypts.
        assert credential_secret(credential=ProviderCredential.objects.get(pk=a.pk)).endswith(
            "1111"
        )
        call_command("rotate_encryption_keys", verbosity=0)
        new_id = crypto.newest_key_id()
        assert new_id != old_key.key_id
        for pk, suffix in ((a.pk, "1111"), (b.pk, "2222")):
            row = ProviderCredential.objects.get(pk=pk)
            assert crypto.key_id_of(row.encrypted_key) == new_id
            assert credential_secret(credential=row).endswith(suffix)
        # Re-running after completion (or an interruption) is safe and changes nothing.
        before = list(ProviderCredential.objects.values_list("encrypted_key", flat=True))
        call_command("rotate_encryption_keys", verbosity=0)
        assert list(ProviderCredential.objects.values_list("encrypted_key", flat=True)) == before
    # With the old key removed, everything is still readable: nothing depends on it any more.
    with override_settings(TOLLGATE_ENCRYPTION_KEYS=[new]):
        assert credential_secret(credential=ProviderCredential.objects.get(pk=b.pk)).endswith(
            "2222"
        )


def test_interrupted_rotation_can_be_resumed(tenant, other_tenant, openai_provider):
    from django.conf import settings

    a = credential_set(tenant=tenant, provider=openai_provider, api_key="sk-resume-me-1111")
    b = credential_set(tenant=other_tenant, provider=openai_provider, api_key="sk-resume-me-2222")
    new, old_raw = new_key(), settings.TOLLGATE_ENCRYPTION_KEYS[0]
    with override_settings(TOLLGATE_ENCRYPTION_KEYS=[new, old_raw]):
        # Simulate a run that stopped after the first row.
        row = ProviderCredential.objects.get(pk=a.pk)
        row.encrypted_key = crypto.encrypt(
            "sk-resume-me-1111", aad=crypto.associated_data(tenant_id=tenant.pk, record_id=a.pk)
        )
        row.save()
        from tenants.services import credentials_rotate_encryption

        rotated, total = credentials_rotate_encryption()
        assert (rotated, total) == (1, 2)
    with override_settings(TOLLGATE_ENCRYPTION_KEYS=[new]):
        assert credential_secret(credential=ProviderCredential.objects.get(pk=b.pk)).endswith(
            "2222"
        )


def test_missing_key_is_a_clear_error_not_plaintext(tenant, openai_provider):
    credential = credential_set(
        tenant=tenant, provider=openai_provider, api_key="sk-missing-key-9999"
    )
    with (
        override_settings(TOLLGATE_ENCRYPTION_KEYS=[new_key()]),
        pytest.raises(SecretDecryptionError) as excinfo,
    ):
        credential_secret(credential=ProviderCredential.objects.get(pk=credential.pk))
    assert "not configured" in excinfo.value.message
    assert "sk-missing" not in excinfo.value.message
    with (
        override_settings(TOLLGATE_ENCRYPTION_KEYS=[]),
        pytest.raises(SecretDecryptionError, match="No encryption key"),
    ):
        credential_secret(credential=ProviderCredential.objects.get(pk=credential.pk))


def test_malformed_key_setting_is_rejected():
    with (
        override_settings(TOLLGATE_ENCRYPTION_KEYS=["c2hvcnQ="]),
        pytest.raises(SecretDecryptionError, match="32 bytes"),
    ):
        crypto.encryption_keys()


def test_rotation_command_reports_a_missing_key_clearly(tenant, openai_provider):
    from django.core.management.base import CommandError

    credential_set(tenant=tenant, provider=openai_provider, api_key="sk-orphaned-key-0000")
    with (
        override_settings(TOLLGATE_ENCRYPTION_KEYS=[new_key()]),
        pytest.raises(CommandError, match="not configured"),
    ):
        call_command("rotate_encryption_keys", verbosity=0)
