"""Secrets at rest: AES-256-GCM with associated data that binds a ciphertext to its row.

Stored form: `v1:<key id>:<base64url(nonce || ciphertext+tag)>`. The key id is the first 8 hex
characters of SHA-256 of the key, so decryption picks the right key and rotation knows which
rows still use an old one. Keys come from TOLLGATE_ENCRYPTION_KEYS (newest first).
"""

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from core.errors import SecretDecryptionError

_VERSION = "v1"


@dataclass(frozen=True)
class EncryptionKey:
    key_id: str
    aead: AESGCM


def _parse_keys(raw_keys: list[str]) -> list[EncryptionKey]:
    keys = []
    for raw in raw_keys:
        raw = raw.strip()
        if not raw:
            continue
        try:
            material = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except ValueError as exc:
            raise SecretDecryptionError("An encryption key is not valid base64.") from exc
        if len(material) != 32:
            raise SecretDecryptionError("Each encryption key must be 32 bytes (base64-encoded).")
        keys.append(EncryptionKey(hashlib.sha256(material).hexdigest()[:8], AESGCM(material)))
    return keys


def encryption_keys() -> list[EncryptionKey]:
    keys = _parse_keys(settings.TOLLGATE_ENCRYPTION_KEYS)
    if not keys:
        raise SecretDecryptionError(
            "No encryption key is configured (set TOLLGATE_ENCRYPTION_KEYS)."
        )
    return keys


def associated_data(*, tenant_id: int, record_id: int, purpose: str = "credential") -> bytes:
    return f"tollgate:{purpose}:tenant={tenant_id}:id={record_id}".encode()


def encrypt(plaintext: str, *, aad: bytes) -> str:
    key = encryption_keys()[0]
    nonce = os.urandom(12)
    sealed = key.aead.encrypt(nonce, plaintext.encode(), aad)
    return f"{_VERSION}:{key.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def key_id_of(token: str) -> str:
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == _VERSION else ""


def decrypt(token: str, *, aad: bytes) -> str:
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != _VERSION:
        raise SecretDecryptionError("A stored secret has an unknown format.")
    _, key_id, payload = parts
    key = next((k for k in encryption_keys() if k.key_id == key_id), None)
    if key is None:
        raise SecretDecryptionError(
            f"A stored secret was encrypted with key {key_id}, which is not configured."
        )
    blob = base64.urlsafe_b64decode(payload)
    try:
        return key.aead.decrypt(blob[:12], blob[12:], aad).decode()
    except InvalidTag as exc:
        raise SecretDecryptionError(
            "A stored secret failed its integrity check (wrong key or moved ciphertext)."
        ) from exc


def newest_key_id() -> str:
    return encryption_keys()[0].key_id
