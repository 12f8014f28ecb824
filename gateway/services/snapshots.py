"""In-process snapshots for the hot path: API keys, tenant configs and credentials, the catalog.

A warm tenant costs no database query: each snapshot lives in process memory for a short TTL.
Changes are seen across processes through a version counter that post_save/post_delete signals
bump (checked at most once per second per process): in Redis, or on the embedded default in the
file every process shares (core/shared_state.py). The process that made a change drops its own
snapshots at once.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from core.db import connection_refresh
from core.errors import InvalidRequest
from core.redis import get_pipelined_redis, get_redis
from core.shared_state import embedded_shared_state
from core.ssrf import validate_upstream_base_url
from llm.models import LLMModel, Provider, RoutingConfig
from llm.services.model_access import ModelAccess
from llm.services.routing_snapshots import ConfigInfo, catalog_index_load, tenant_configs_load
from tenants.models import ProviderCredential, Tenant, TenantApiKey
from tenants.selectors import credential_list
from tenants.services import api_key_authenticate, api_key_hash, api_key_well_formed

logger = logging.getLogger(__name__)


VERSION_KEY = "tollgate:snapshot:version"
VERSION_CHECK_SECONDS = 1.0
VERSION_TTL_SECONDS = 30 * 24 * 3600  # the shared file's copy; Redis keeps it forever
KEY_TTL_SECONDS = 60.0
NEGATIVE_KEY_TTL_SECONDS = 5.0
TENANT_TTL_SECONDS = 60.0
CATALOG_TTL_SECONDS = 300.0
_MAX_KEYS = 20_000
LAST_USED_FLUSH_SECONDS = 30.0


@dataclass(frozen=True)
class KeyInfo:
    key_id: int
    tenant_id: int
    tenant_slug: str
    scopes: frozenset[str]
    rpm_limit: int | None
    tpm_limit: int | None
    expires_at: datetime | None
    allowed_models: tuple[str, ...] = ()  # empty: no restriction (README "Model access")
    allowed_configs: tuple[str, ...] = ()


@dataclass(frozen=True)
class CredentialInfo:
    """A tenant's BYOK key for one provider, still encrypted; decrypted per upstream call."""

    credential_id: int
    tenant_id: int
    provider_pk: int
    encrypted_key: str
    base_url: str
    base_url_error: str  # non-empty when the stored base URL fails the SSRF check now


@dataclass
class TenantSnapshot:
    configs: list[ConfigInfo]
    credentials: dict[int, CredentialInfo]  # provider pk -> credential
    access: ModelAccess = field(default_factory=ModelAccess)  # the tenant's plan


def key_access(*, key: KeyInfo, snapshot: TenantSnapshot) -> ModelAccess:
    """What this key may call: its tenant's plan narrowed by its own lists."""
    return snapshot.access.for_key(models=key.allowed_models, configs=key.allowed_configs)


class _State:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[KeyInfo | None, float]] = {}
        self.tenants: dict[int, tuple[TenantSnapshot, float]] = {}
        self.catalog: tuple[object, float] | None = None
        self.version: bytes | None = None
        self.version_checked = 0.0
        self.last_used: dict[int, float] = {}
        self.last_used_pending: set[int] = set()
        self.flusher: asyncio.Task | None = None
        self.loading: dict[tuple, asyncio.Task] = {}

    def clear(self) -> None:
        self.keys.clear()
        self.tenants.clear()
        self.catalog = None


_state = _State()


def snapshots_clear() -> None:
    """Drop this process's snapshots (tests, and the signal handlers below)."""
    _state.clear()
    _state.version_checked = 0.0


async def _ensure_fresh() -> None:
    now = time.monotonic()
    if now - _state.version_checked < VERSION_CHECK_SECONDS:
        return
    _state.version_checked = now
    client = get_pipelined_redis()
    try:
        if client is None:
            version = embedded_shared_state().get(VERSION_KEY)
        else:
            version = await client.execute("GET", VERSION_KEY)
    except Exception:  # Redis down: keep serving from the TTL-bounded snapshots
        return
    if version != _state.version:
        if _state.version is not None or version is not None:
            _state.clear()
        _state.version = version


async def _load_once(name: tuple, load):
    """Run a blocking load in a thread; concurrent misses of one entry share it, so an expired
    snapshot costs one database load, not one per request waiting for it (no stampede)."""
    loop = asyncio.get_running_loop()
    task = _state.loading.get(name)
    if task is None or task.get_loop() is not loop:
        task = loop.create_task(sync_to_async(load, thread_sensitive=False)())
        _state.loading[name] = task

        def forget(done: asyncio.Task, name=name) -> None:
            if _state.loading.get(name) is done:
                del _state.loading[name]

        task.add_done_callback(forget)
    return await asyncio.shield(task)  # a client that goes away does not cancel the others' load


# --- API keys ---------------------------------------------------------------------------------


def _load_key(secret: str) -> KeyInfo | None:

    connection_refresh()
    key = api_key_authenticate(secret=secret)
    if key is None:
        return None
    return KeyInfo(
        key_id=key.pk,
        tenant_id=key.tenant_id,
        tenant_slug=key.tenant.slug,
        scopes=frozenset(key.scopes or ()),
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        expires_at=key.expires_at,
        allowed_models=tuple(key.allowed_models or ()),
        allowed_configs=tuple(key.allowed_configs or ()),
    )


async def key_info_get(*, secret: str) -> KeyInfo | None:
    """The live key for a secret (cached by its keyed hash), or None. A value that cannot be a
    key is refused here: no query, no cache entry (garbage cannot push real keys out)."""
    if not api_key_well_formed(secret):
        return None
    await _ensure_fresh()
    digest = api_key_hash(secret)
    now = time.monotonic()
    hit = _state.keys.get(digest)
    if hit is not None and hit[1] > now:
        info = hit[0]
    else:
        info = await _load_once(("key", digest), lambda: _load_key(secret))
        if len(_state.keys) >= _MAX_KEYS:
            _state.keys.clear()
        ttl = KEY_TTL_SECONDS if info is not None else NEGATIVE_KEY_TTL_SECONDS
        _state.keys[digest] = (info, now + ttl)
    if info is not None and info.expires_at is not None and info.expires_at <= timezone.now():
        return None
    return info


def key_mark_used(*, key_id: int) -> None:
    """Note a key's use; `last_used_at` is written in batches off the request path."""
    now = time.monotonic()
    if now - _state.last_used.get(key_id, -1e9) < LAST_USED_FLUSH_SECONDS:
        return
    _state.last_used[key_id] = now
    _state.last_used_pending.add(key_id)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        last_used_flush()
        return
    if _state.flusher is None or _state.flusher.done():
        _state.flusher = loop.create_task(_last_used_flush_later())


async def _last_used_flush_later() -> None:
    await asyncio.sleep(1.0)
    try:
        await sync_to_async(last_used_flush, thread_sensitive=False)()
    except Exception:  # best effort: a missed last_used_at update is harmless
        logger.warning("last_used_at update failed")


def last_used_flush() -> int:

    ids, _state.last_used_pending = _state.last_used_pending, set()
    if not ids:
        return 0
    connection_refresh()
    return TenantApiKey.objects.filter(pk__in=ids).update(last_used_at=timezone.now())


# --- Tenant configs and credentials ----------------------------------------------------------


def _load_tenant(tenant_id: int) -> TenantSnapshot:

    connection_refresh()
    configs = tenant_configs_load(tenant_id=tenant_id)
    credentials = {}
    for credential in credential_list(tenant=Tenant(pk=tenant_id)).filter(is_active=True):
        error = ""
        if credential.base_url:
            try:
                validate_upstream_base_url(credential.base_url)
            except InvalidRequest as exc:
                error = exc.message
        credentials[credential.provider_id] = CredentialInfo(
            credential_id=credential.pk,
            tenant_id=tenant_id,
            provider_pk=credential.provider_id,
            encrypted_key=credential.encrypted_key,
            base_url=credential.base_url,
            base_url_error=error,
        )
    return TenantSnapshot(
        configs=configs, credentials=credentials, access=tenant_access_load(tenant_id=tenant_id)
    )


def tenant_access_load(*, tenant_id: int) -> ModelAccess:
    """The tenant's plan (one query); a tenant gone meanwhile gets the most closed plan."""
    row = (
        Tenant.objects.filter(pk=tenant_id)
        .values("allowed_providers", "allowed_models", "local_providers")
        .first()
    )
    if row is None:
        return ModelAccess(tenant_models=frozenset({"-"}))
    return ModelAccess.build(
        tenant_providers=row["allowed_providers"],
        tenant_models=row["allowed_models"],
        local_providers=row["local_providers"],
    )


async def tenant_snapshot_get(*, tenant_id: int) -> TenantSnapshot:
    await _ensure_fresh()
    now = time.monotonic()
    hit = _state.tenants.get(tenant_id)
    if hit is not None and hit[1] > now:
        return hit[0]
    snapshot = await _load_once(("tenant", tenant_id), lambda: _load_tenant(tenant_id))
    _state.tenants[tenant_id] = (snapshot, now + TENANT_TTL_SECONDS)
    return snapshot


# --- Catalog ----------------------------------------------------------------------------------


async def catalog_get():
    """The catalog index (llm.services.router.CatalogIndex)."""

    await _ensure_fresh()
    now = time.monotonic()
    hit = _state.catalog
    if hit is not None and hit[1] > now:
        return hit[0]

    def load():
        connection_refresh()
        return catalog_index_load()

    index = await _load_once(("catalog",), load)
    _state.catalog = (index, now + CATALOG_TTL_SECONDS)
    return index


# --- Invalidation -----------------------------------------------------------------------------


def snapshots_invalidate() -> None:
    """Drop snapshots here now, and in every process sharing Redis within about a second."""
    _state.clear()

    def bump() -> None:
        _state.clear()
        client = get_redis()
        try:
            if client is None:
                version = embedded_shared_state().incr(VERSION_KEY, ttl=VERSION_TTL_SECONDS)
            else:
                version = client.incr(VERSION_KEY)
            _state.version = str(version).encode()
        except Exception:  # Redis down: other processes fall back to the TTL
            _state.version_checked = 0.0

    transaction.on_commit(bump)


def _on_change(sender, **kwargs) -> None:
    snapshots_invalidate()


def connect_signals() -> None:

    for model in (Tenant, TenantApiKey, ProviderCredential, RoutingConfig, Provider, LLMModel):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"tollgate-snap-{model.__name__}")
        post_delete.connect(
            _on_change, sender=model, dispatch_uid=f"tollgate-snapdel-{model.__name__}"
        )
