"""Weak or well-known secrets stop a production start (config/settings.py, DEBUG off).

SECRET_KEY keys the HMAC of every tenant API key and signs sessions; TOLLGATE_ENCRYPTION_KEYS
encrypt every BYOK key. A short, repetitive or published value (the test settings', the dev
fallback's, Django's `django-insecure-` template keys) makes those forgeable or decryptable, so
it is refused at start, by name and never by value. `python -m config.keygen` and
`python -m config.bootstrap_env` print values that pass.
"""

import base64
import binascii
from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured

# Django's own deploy check (security.W009) asks for as much; a token_urlsafe(50) has 67.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_DISTINCT = 5
ENCRYPTION_KEY_BYTES = 32
# 32 random bytes hold ~30 distinct values; 15 or fewer, or all printable ASCII (text, not
# random bytes), happen by chance less than once in 10^13 keys.
_KEY_MIN_DISTINCT_BYTES = 16
_PRINTABLE = range(0x20, 0x7F)

# Values that are published in this repository or Django's templates.
KNOWN_SECRET_KEYS = frozenset(
    {
        "test-secret-key-not-for-production",  # config/settings_test.py
        "insecure-dev-only-secret-key",  # the DEBUG fallback in config/settings.py
        "bench-only-secret",  # bench/django_overhead.py
    }
)
KNOWN_ENCRYPTION_KEYS = frozenset(
    {
        "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY=",  # config/settings_test.py
        "A" * 43 + "=",  # bench/django_overhead.py (32 zero bytes)
    }
)


def secret_key_problem(value: str) -> str | None:
    """Why SECRET_KEY is not fit for production, or None."""
    if value in KNOWN_SECRET_KEYS or value.startswith("django-insecure-"):
        return "SECRET_KEY is a published test or development value"
    if len(value) < SECRET_KEY_MIN_LENGTH:
        return f"SECRET_KEY is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(value)) < SECRET_KEY_MIN_DISTINCT:
        return f"SECRET_KEY has fewer than {SECRET_KEY_MIN_DISTINCT} distinct characters"
    return None


def encryption_key_problem(value: str) -> str | None:
    """Why one TOLLGATE_ENCRYPTION_KEYS entry is not 32 random bytes (url-safe base64), or None."""
    value = value.strip()
    if value in KNOWN_ENCRYPTION_KEYS:
        return "is a published test value"
    try:
        padded = value + "=" * (-len(value) % 4)
        material = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return "is not base64"
    if len(material) != ENCRYPTION_KEY_BYTES:
        return f"is {len(material)} bytes, not {ENCRYPTION_KEY_BYTES}"
    if len(set(material)) < _KEY_MIN_DISTINCT_BYTES or all(b in _PRINTABLE for b in material):
        return "does not look random (text or repeated bytes)"
    return None


def refuse_weak_secrets(*, secret_key: str, encryption_keys: Iterable[str]) -> None:
    """ImproperlyConfigured naming every weak secret (never its value)."""
    problems = []
    if problem := secret_key_problem(secret_key):
        problems.append(problem)
    for number, value in enumerate(encryption_keys, start=1):
        if problem := encryption_key_problem(value):
            problems.append(f"TOLLGATE_ENCRYPTION_KEYS entry {number} {problem}")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start with weak secrets (DEBUG is off): "
            + "; ".join(problems)
            + ". Make new ones with `python -m config.keygen` (encryption keys) and "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` (SECRET_KEY)."
        )
