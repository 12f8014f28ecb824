"""Which key and base URL an upstream call uses. Nothing from the client request is consulted.

BYOK: when the config says `use_byok` and the tenant stored a key for the provider, that key is
used, with the credential's own base URL (re-validated against SSRF when the snapshot loads) if
it has one: the tenant's key is only ever sent to the URL the tenant chose for it. Otherwise the
platform key from the provider's `api_key_env` variable, at the provider's base URL or the
operator's `TOLLGATE_<PROVIDER>_BASE_URL` override. Only a tenant's own base URL is
`guarded` (checked against SSRF again when the HTTP client connects); the operator's are trusted.
"""

import os
from dataclasses import dataclass

from core.breaker_state import byok_credential
from core.redaction import redact
from gateway.services.snapshots import CredentialInfo
from llm.providers.contract import ProviderError
from tenants.models import ProviderCredential
from tenants.services import credential_secret


@dataclass(frozen=True)
class UpstreamKey:
    api_key: str | None
    base_url: str
    key_source: str  # platform | byok
    breaker_id: str  # the credential part of the circuit breaker key (never the key itself)
    guarded: bool = True  # base_url is the tenant's: the SSRF guard checks it at connect time
    credential_id: int | None = None  # the BYOK credential's row, None for a platform key


class NoUsableKey(Exception):
    """The provider cannot be called: no platform key configured and no BYOK key."""


def upstream_key_resolve(*, model, use_byok: bool, credentials: dict[int, CredentialInfo]):
    """The key for one candidate model (a router ModelInfo); raise NoUsableKey with a note."""
    if use_byok:
        credential = credentials.get(model.provider_pk)
        if credential is not None:
            if credential.base_url_error:
                raise NoUsableKey(f"BYOK base URL refused: {credential.base_url_error}")

            row = ProviderCredential(
                pk=credential.credential_id,
                tenant_id=credential.tenant_id,
                encrypted_key=credential.encrypted_key,
            )
            try:
                secret = credential_secret(credential=row)
            except Exception as exc:
                raise NoUsableKey("BYOK key cannot be decrypted with the configured keys") from exc
            return UpstreamKey(
                api_key=secret,
                base_url=credential.base_url or _platform_base_url(model),
                key_source="byok",
                breaker_id=byok_credential(credential.credential_id),
                guarded=bool(credential.base_url),
                credential_id=credential.credential_id,
            )
    if model.auth_style == "none":
        return UpstreamKey(
            api_key=None,
            base_url=_platform_base_url(model),
            key_source="platform",
            breaker_id="platform",
            guarded=False,
        )
    env_name = model.api_key_env
    api_key = os.environ.get(env_name, "") if env_name else ""
    if not api_key:
        where = f"platform key {env_name} is not set" if env_name else "no platform key variable"
        raise NoUsableKey(
            f"no usable key for provider {model.provider_slug} ({where}, no BYOK key)"
        )
    return UpstreamKey(
        api_key=api_key,
        base_url=_platform_base_url(model),
        key_source="platform",
        breaker_id="platform",
        guarded=False,
    )


def _platform_base_url(model) -> str:
    return os.environ.get(model.base_url_env, "") or model.base_url


def provider_has_key(*, model, use_byok: bool, credentials: dict[int, CredentialInfo]) -> bool:
    if use_byok and model.provider_pk in credentials:
        return True
    if model.auth_style == "none":
        return True
    return bool(model.api_key_env and os.environ.get(model.api_key_env))


def error_without_key(*, error: ProviderError, ukey: UpstreamKey) -> ProviderError:
    """Mask the key this call was made with wherever the upstream's error quotes it: a BYOK key
    for a self-hosted model may have a shape no pattern knows. Done before the message is noted
    on an attempt, a usage event, a log line or the client's error."""
    if ukey.api_key:
        error.message = redact(error.message, secrets=(ukey.api_key,))
        error.args = (error.message,)
    return error
