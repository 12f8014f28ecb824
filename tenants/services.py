"""Writes for tenants, memberships, API keys and BYOK credentials."""

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, F, Model, Q, Value, When
from django.utils import timezone

from core.errors import InvalidRequest
from core.ssrf import validate_upstream_base_url
from tenants import crypto
from tenants.models import Membership, ProviderCredential, Tenant, TenantApiKey

API_KEY_PREFIX = "tg_"
_API_KEY_RANDOM_BYTES = 32  # 43 url-safe characters after the prefix
_VISIBLE_PREFIX_LEN = 11  # "tg_" + 8 characters
# What a key can look like (the contract: `tg_` + 40+ url-safe characters). Anything else is
# refused before it is hashed, cached or looked up: garbage costs no query and no cache entry.
_API_KEY_SHAPE = re.compile(r"tg_[A-Za-z0-9_-]{40,128}")
# The one answer to every refused key, wherever it is refused: it never echoes the value and
# does not tell a missing key from a malformed, unknown, revoked or expired one.
API_KEY_INVALID_MESSAGE = "Invalid API key. Send 'Authorization: Bearer tg_...'."


def api_key_well_formed(secret: str) -> bool:
    """Could this be a tenant API key at all? (No database, no hashing.)"""
    return isinstance(secret, str) and _API_KEY_SHAPE.fullmatch(secret) is not None


def api_key_hash(secret: str) -> str:
    """Keyed hash (HMAC-SHA256) of an API key secret; the key is derived from SECRET_KEY."""
    return hmac.new(_hash_key(settings.SECRET_KEY), secret.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=4)
def _hash_key(secret_key: str) -> bytes:
    """Derived once per SECRET_KEY (every request hashes the key it presents)."""
    return hashlib.sha256(b"tollgate-api-key-hash:" + secret_key.encode()).digest()


def tenant_create(*, slug: str, name: str, timezone_name: str = "UTC") -> Tenant:
    tenant = Tenant(slug=slug, name=name, timezone=timezone_name)
    tenant.full_clean()
    tenant.save()
    return tenant


def membership_set(*, tenant: Tenant, user: AbstractBaseUser, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership


def api_key_create(
    *,
    tenant: Tenant,
    scopes: list[str],
    name: str = "default",
    expires_at: datetime | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    created_by: AbstractBaseUser | None = None,
    allowed_models: list[str] | None = None,
    allowed_configs: list[str] | None = None,
) -> tuple[TenantApiKey, str]:
    """Create a key; return it with its secret, which is not stored and never shown again."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(_API_KEY_RANDOM_BYTES)
    key = TenantApiKey(
        tenant=tenant,
        name=name,
        prefix=secret[:_VISIBLE_PREFIX_LEN],
        key_hash=api_key_hash(secret),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        created_by=created_by,
        allowed_models=list(allowed_models or []),
        allowed_configs=list(allowed_configs or []),
    )
    key.full_clean()
    key.save()
    return key, secret


def api_key_access_set(
    *,
    key: TenantApiKey,
    allowed_models: list[str] | None = None,
    allowed_configs: list[str] | None = None,
) -> TenantApiKey:
    """Restrict a key to models and / or routing configs (None: leave that list as it is)."""
    if allowed_models is not None:
        key.allowed_models = list(allowed_models)
    if allowed_configs is not None:
        key.allowed_configs = list(allowed_configs)
    key.full_clean()
    key.save(update_fields=["allowed_models", "allowed_configs"])
    return key


def tenant_access_set(
    *,
    tenant: Tenant,
    allowed_providers: list[str] | None = None,
    allowed_models: list[str] | None = None,
    local_providers: list[str] | None = None,
) -> Tenant:
    """The operator's plan for a tenant (None: leave that list as it is; an empty list is no
    restriction, for local providers: none enabled)."""
    given = {
        "allowed_providers": allowed_providers,
        "allowed_models": allowed_models,
        "local_providers": local_providers,
    }
    fields = [name for name, value in given.items() if value is not None]
    for field in fields:
        setattr(tenant, field, list(given[field]))
    tenant.full_clean()
    tenant.save(update_fields=[*fields, "updated_at"])
    return tenant


def api_key_authenticate(*, secret: str) -> TenantApiKey | None:
    """The live key for a secret, or None. Looked up by the full hash, compared in constant time."""
    if not api_key_well_formed(secret):
        return None
    digest = api_key_hash(secret)
    key = (
        TenantApiKey.objects.select_related("tenant")
        .filter(key_hash=digest, revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    if key.expires_at is not None and key.expires_at <= timezone.now():
        return None
    if key.tenant.status != Tenant.Status.ACTIVE:
        return None
    return key


def api_key_revoke(*, key: TenantApiKey) -> TenantApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def _credential_aad(credential: ProviderCredential) -> bytes:
    return crypto.associated_data(tenant_id=credential.tenant_id, record_id=credential.pk)


@transaction.atomic
def credential_set(
    *,
    tenant: Tenant,
    provider: Model,  # the catalog's llm Provider row: llm sits above tenants, so not named here
    api_key: str,
    base_url: str = "",
    user: AbstractBaseUser | None = None,
) -> ProviderCredential:
    """Create the tenant's key for a provider, or rotate it by replacing the stored one."""
    api_key = api_key.strip()
    if len(api_key) < 8:
        raise InvalidRequest("api_key is too short.")
    if base_url:
        try:
            validate_upstream_base_url(base_url)
        except InvalidRequest as exc:  # the contract's shape: name the field
            fields = {"base_url": [exc.message]}
            raise InvalidRequest(exc.message, extra={"fields": fields}) from None
    credential = (
        ProviderCredential.objects.select_for_update()
        .filter(tenant=tenant, provider=provider)
        .first()
    )
    if credential is None:
        credential = ProviderCredential.objects.create(
            tenant=tenant, provider=provider, encrypted_key="", last4="", created_by=user
        )
    else:
        credential.rotated_at = timezone.now()
        credential.rotated_by = user
    credential.base_url = base_url
    credential.last4 = api_key[-4:]
    credential.is_active = True
    credential.encrypted_key = crypto.encrypt(api_key, aad=_credential_aad(credential))
    credential.save()
    return credential


def credential_secret(*, credential: ProviderCredential) -> str:
    """The plaintext provider key, for the upstream call only. Never log or return it."""
    return crypto.decrypt(credential.encrypted_key, aad=_credential_aad(credential))


def credentials_rotate_encryption() -> tuple[int, int]:
    """Re-encrypt every secret not yet under the newest key. Safe to re-run after interruption.

    Each row is re-encrypted in its own short transaction, so an interrupted run leaves every row
    readable (old or new key) and a re-run continues where it stopped. Returns (rotated, total).
    """
    newest = crypto.newest_key_id()
    rotated = 0
    ids = list(ProviderCredential.objects.order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        with transaction.atomic():
            credential = ProviderCredential.objects.select_for_update().get(pk=pk)
            if crypto.key_id_of(credential.encrypted_key) == newest:
                continue
            plaintext = credential_secret(credential=credential)
            credential.encrypted_key = crypto.encrypt(plaintext, aad=_credential_aad(credential))
            credential.save(update_fields=["encrypted_key"])
            rotated += 1
    return rotated, len(ids)


def credential_update(
    *,
    credential: ProviderCredential,
    api_key: str | None = None,
    base_url: str | None = None,
    user: AbstractBaseUser | None = None,
) -> ProviderCredential:
    """Rotate the key and/or change the base URL; the stored key is kept when none is given.

    A new base URL needs the key re-entered: otherwise whoever may manage credentials could send
    the stored (write-only) key to a server of their choosing and read it there.
    """
    if base_url is not None and base_url != credential.base_url and api_key is None:
        raise InvalidRequest(
            "Changing base_url requires the api_key again.",
            extra={"fields": {"api_key": ["Required when base_url changes."]}},
        )
    return credential_set(
        tenant=credential.tenant,
        provider=credential.provider,
        api_key=api_key if api_key is not None else credential_secret(credential=credential),
        base_url=credential.base_url if base_url is None else base_url,
        user=user,
    )


def credential_delete(*, credential: ProviderCredential) -> None:
    credential.delete()


# --- Members: the rules the admin's forms apply, for every other write path -------------------


def _member_role_check(
    *, tenant: Tenant, actor_role: str | None, current: str | None, role: str
) -> None:
    """Only an owner grants, changes or removes the owner role (callers pass an operator as an
    owner), and a tenant keeps at least one owner: someone can always manage it."""
    if Membership.Role.OWNER in (role, current) and actor_role != Membership.Role.OWNER:
        raise InvalidRequest(
            "Only an owner can grant or change the owner role.",
            extra={"fields": {"role": ["Only an owner can grant or change the owner role."]}},
        )
    owners = Membership.objects.filter(tenant=tenant, role=Membership.Role.OWNER)
    if current == Membership.Role.OWNER and role != current and owners.count() <= 1:
        raise InvalidRequest(
            "A tenant needs at least one owner.",
            extra={"fields": {"role": ["A tenant needs at least one owner."]}},
        )


def _role_valid(role: str) -> str:
    if role not in Membership.Role.values:
        message = f"Role must be one of {Membership.Role.values}."
        raise InvalidRequest(message, extra={"fields": {"role": [message]}})
    return role


def member_add(*, tenant: Tenant, login: str, role: str, actor_role: str | None) -> Membership:
    """Add an existing user, found by username or e-mail, to the tenant. Whether a login exists
    elsewhere is not revealed beyond "no such user" (no list of users is offered)."""
    from django.contrib.auth import get_user_model

    role = _role_valid(role)
    login = (login or "").strip()
    users = get_user_model()._default_manager.filter(is_active=True)
    user = users.filter(username=login).first() if login else None
    if user is None and "@" in login:
        matches = list(users.filter(email__iexact=login)[:2])
        user = matches[0] if len(matches) == 1 else None
    if user is None:
        message = "No active user with this username or e-mail."
        raise InvalidRequest(message, extra={"fields": {"login": [message]}})
    if Membership.objects.filter(tenant=tenant, user=user).exists():
        message = "This user is already a member."
        raise InvalidRequest(message, extra={"fields": {"login": [message]}})
    _member_role_check(tenant=tenant, actor_role=actor_role, current=None, role=role)
    if not user.is_staff:  # the admin web app is for staff users
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return membership_set(tenant=tenant, user=user, role=role)


@transaction.atomic
def member_role_change(*, membership: Membership, role: str, actor_role: str | None) -> Membership:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    role = _role_valid(role)
    _member_role_check(
        tenant=membership.tenant, actor_role=actor_role, current=membership.role, role=role
    )
    if membership.role != role:
        membership.role = role
        membership.full_clean()
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, actor_role: str | None) -> None:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Membership.Role.OWNER:
        # Removing an owner is dropping the owner role: the same two rules.
        _member_role_check(
            tenant=membership.tenant,
            actor_role=actor_role,
            current=membership.role,
            role=Membership.Role.VIEWER,
        )
    membership.delete()


# --- BYOK key health, from usage ingestion ------------------------------------------------------


@dataclass(frozen=True)
class CredentialOutcome:
    """The latest success and failure a batch of usage events saw for one BYOK credential."""

    tenant_id: int
    credential_id: int
    success_at: datetime | None = None
    failure_at: datetime | None = None
    failure_kind: str = ""


def _newer(field: str, at: datetime | None, then, default):
    """Set `field`'s group to `then` only when `at` is newer than what is stored (batches may
    arrive out of order; an older batch never overwrites a newer outcome)."""
    if at is None:
        return default
    return Case(
        When(Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": at}), then=then),
        default=default,
    )


def credential_outcomes_record(*, outcomes: list[CredentialOutcome]) -> int:
    """One UPDATE per credential: last success, last failure and its kind, each only forward."""
    updated = 0
    for outcome in outcomes:
        values = {}
        if outcome.success_at is not None:
            values["last_success_at"] = _newer(
                "last_success_at",
                outcome.success_at,
                Value(outcome.success_at),
                F("last_success_at"),
            )
        if outcome.failure_at is not None:
            values["last_failure_at"] = _newer(
                "last_failure_at",
                outcome.failure_at,
                Value(outcome.failure_at),
                F("last_failure_at"),
            )
            values["last_failure_kind"] = _newer(
                "last_failure_at",
                outcome.failure_at,
                Value(outcome.failure_kind[:32]),
                F("last_failure_kind"),
            )
        if values:
            updated += ProviderCredential.objects.filter(
                pk=outcome.credential_id, tenant_id=outcome.tenant_id
            ).update(**values)
    return updated


def credential_active_set(*, credential: ProviderCredential, is_active: bool) -> ProviderCredential:
    """Stop (or resume) using a stored key without deleting it."""
    if credential.is_active != is_active:
        credential.is_active = is_active
        credential.save(update_fields=["is_active"])
    return credential
