"""Writes behind the credentials API that tenants.services does not have yet."""

from django.contrib.auth.models import AbstractBaseUser

from core.errors import InvalidRequest
from tenants.models import ProviderCredential
from tenants.services import credential_secret, credential_set


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
