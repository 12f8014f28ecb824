"""The similarity cache's rows (gateway.models.SemanticCacheEntry): one write that keeps each
config within its bounds, and the scoped read the in-process index loads from. Synchronous
ORM code: the request path calls it in a worker thread (sync_to_async)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.db import transaction

from gateway.models import SemanticCacheEntry
from gateway.services.similarity_index import IndexedEntry


@transaction.atomic
def semantic_entry_create(
    *,
    tenant_id: int,
    config_id: int,
    embedding_model: str,
    params_hash: str,
    vector: np.ndarray,
    answer: dict[str, Any],
    ttl_seconds: int,
    max_entries: int,
) -> IndexedEntry:
    """Store one answer, then drop what the config no longer keeps: expired entries and the
    oldest beyond `max_entries` (entries of an embedding model the config no longer names are
    never loaded, and leave as they age out)."""
    now = datetime.now(UTC)
    entry = SemanticCacheEntry.objects.create(
        tenant_id=tenant_id,
        config_id=config_id,
        embedding_model=embedding_model,
        params_hash=params_hash,
        embedding=vector.astype("<f4").tobytes(),
        answer=answer,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    scope = SemanticCacheEntry.objects.filter(tenant_id=tenant_id, config_id=config_id)
    scope.filter(expires_at__lte=now).delete()
    cutoff = list(scope.order_by("-id").values_list("id", flat=True)[max_entries : max_entries + 1])
    if cutoff:
        scope.filter(id__lte=cutoff[0]).delete()
    return IndexedEntry(
        entry_id=entry.pk,
        params_hash=params_hash,
        vector=vector,
        answer=answer,
        expires_at=entry.expires_at.timestamp(),
    )


def semantic_entries_since(
    *, tenant_id: int, config_id: int, embedding_model: str, after_id: int, limit: int
) -> list[IndexedEntry]:
    """The live entries of one config with an id above `after_id`: the newest `limit` of
    them, oldest first (the order the index adds them in)."""
    rows = (
        SemanticCacheEntry.objects.filter(
            tenant_id=tenant_id,
            config_id=config_id,
            embedding_model=embedding_model,
            id__gt=after_id,
            expires_at__gt=datetime.now(UTC),
        )
        .order_by("-id")
        .values_list("id", "params_hash", "embedding", "answer", "expires_at")[:limit]
    )
    return [
        IndexedEntry(
            entry_id=pk,
            params_hash=params_hash,
            vector=np.frombuffer(bytes(raw), dtype="<f4").astype(np.float32),
            answer=answer,
            expires_at=expires_at.timestamp(),
        )
        for pk, params_hash, raw, answer, expires_at in reversed(list(rows))
    ]


def semantic_entry_ids(*, tenant_id: int, config_id: int, embedding_model: str) -> set[int]:
    """The ids one config's index may keep (the sweep drops the others)."""
    return set(
        SemanticCacheEntry.objects.filter(
            tenant_id=tenant_id, config_id=config_id, embedding_model=embedding_model
        ).values_list("id", flat=True)
    )
