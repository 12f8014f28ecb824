"""The in-process similarity indexes, one per (tenant, config), kept in step with the database
off the request's path: a lookup searches what its index holds now and, when a refresh is due,
starts one in the background (a worker thread reads the rows; the index changes on the loop).

The first load of a config's index runs in the background too: until it is done, lookups miss
(their answers are still stored). After that, rows other processes store show up within
REFRESH_SECONDS (a read of the ids above the highest loaded), rows they evict or that expire
leave within SWEEP_SECONDS (a read of the ids alone); expiry itself is checked at every search.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async

from gateway.services.background import spawn
from gateway.services.similarity_index import IndexedEntry, ScopeIndex

logger = logging.getLogger("tollgate.gateway")

REFRESH_SECONDS = 1.0
SWEEP_SECONDS = 60.0

Scope = tuple[int, int]  # (tenant id, config id)


@dataclass
class _Slot:
    index: ScopeIndex
    task: asyncio.Task | None = None
    ready: bool = False  # the first load is done
    refreshed_at: float = 0.0
    swept_at: float = field(default_factory=time.monotonic)


_slots: dict[Scope, _Slot] = {}


def similarity_index_get(
    *, scope: Scope, embedding_model: str, capacity: int, dimensions: int
) -> ScopeIndex | None:
    """The index to search now (None while its first load runs)."""
    slot = _slots.get(scope)
    if (
        slot is None
        or slot.index.embedding_model != embedding_model
        or slot.index.capacity != capacity
        or slot.index.dimensions not in (None, dimensions)
    ):
        index = ScopeIndex(embedding_model=embedding_model, capacity=capacity)
        slot = _slots[scope] = _Slot(index=index)
    now = time.monotonic()
    idle = slot.task is None or slot.task.done()
    if idle and (not slot.ready or now - slot.refreshed_at > REFRESH_SECONDS):
        sweep = slot.ready and now - slot.swept_at > SWEEP_SECONDS
        slot.task = spawn(_refresh(scope, slot, sweep=sweep))
    return slot.index if slot.ready else None


def similarity_index_add(*, scope: Scope, embedding_model: str, entry: IndexedEntry) -> None:
    """An entry this process just stored: searchable at once, without waiting for a refresh."""
    slot = _slots.get(scope)
    if slot is not None and slot.index.embedding_model == embedding_model:
        slot.index.add(entry)


def similarity_indexes_clear() -> None:
    """Forget every in-process index (tests; the database stays the truth)."""
    _slots.clear()


async def _refresh(scope: Scope, slot: _Slot, *, sweep: bool) -> None:
    # Django app loading: the request path imports this module before the models are ready.
    from gateway.services.similarity_store import semantic_entries_since, semantic_entry_ids

    index = slot.index
    tenant_id, config_id = scope
    where = {
        "tenant_id": tenant_id,
        "config_id": config_id,
        "embedding_model": index.embedding_model,
    }
    try:
        if sweep:
            ids = await sync_to_async(semantic_entry_ids, thread_sensitive=False)(**where)
            index.retain(ids)
            slot.swept_at = time.monotonic()
        entries = await sync_to_async(semantic_entries_since, thread_sensitive=False)(
            **where, after_id=index.last_loaded_id, limit=index.capacity
        )
        for entry in entries:
            index.add(entry)
            index.last_loaded_id = max(index.last_loaded_id, entry.entry_id)
        slot.ready = True
    except Exception:
        logger.exception("similarity cache read failed tenant=%s config=%s", *scope)
    finally:
        slot.refreshed_at = time.monotonic()
