"""A tenant's alert-webhook signing secret: created or rotated on request (the plaintext is
returned once), stored AES-GCM encrypted and bound to the tenant like BYOK keys (crypto.py).

Receivers verify `X-Tollgate-Signature` with it (README "Signed alert webhooks")."""

import secrets

from django.db import transaction

from tenants import crypto
from tenants.models import Tenant

SECRET_PREFIX = "whsec_"
_PURPOSE = "alert-webhook-secret"


def _aad(tenant: Tenant) -> bytes:
    return crypto.associated_data(tenant_id=tenant.pk, record_id=tenant.pk, purpose=_PURPOSE)


@transaction.atomic
def webhook_secret_rotate(*, tenant: Tenant) -> str:
    """A new signing secret replaces the old one at once; the plaintext is returned only here."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    locked.alert_webhook_secret = crypto.encrypt(secret, aad=_aad(locked))
    locked.save(update_fields=["alert_webhook_secret", "updated_at"])
    tenant.alert_webhook_secret = locked.alert_webhook_secret
    return secret


def webhook_secret_get(*, tenant: Tenant) -> str | None:
    """The plaintext secret for signing a delivery, or None while the tenant has none."""
    if not tenant.alert_webhook_secret:
        return None
    return crypto.decrypt(tenant.alert_webhook_secret, aad=_aad(tenant))


def webhook_secrets_rotate_encryption() -> tuple[int, int]:
    """Re-encrypt every webhook secret not under the newest key (rotate_encryption_keys)."""
    newest = crypto.newest_key_id()
    rotated = 0
    ids = list(
        Tenant.objects.exclude(alert_webhook_secret="").order_by("pk").values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            tenant = Tenant.objects.select_for_update().get(pk=pk)
            if crypto.key_id_of(tenant.alert_webhook_secret) == newest:
                continue
            plaintext = crypto.decrypt(tenant.alert_webhook_secret, aad=_aad(tenant))
            tenant.alert_webhook_secret = crypto.encrypt(plaintext, aad=_aad(tenant))
            tenant.save(update_fields=["alert_webhook_secret"])
            rotated += 1
    return rotated, len(ids)
