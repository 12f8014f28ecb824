"""The similarity cache's in-process index and its rows: exact cosine over one (tenant, config),
masked to the parameters hash and the live entries; the bound (count) and the TTL, in memory
and in the database."""

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gateway.models import SemanticCacheEntry
from gateway.services.similarity_index import IndexedEntry, ScopeIndex, unit_vector
from gateway.services.similarity_store import semantic_entries_since, semantic_entry_create
from llm.models import RoutingConfig


def _entry(entry_id: int, values, *, params: str = "p", ttl: float = 60.0) -> IndexedEntry:
    return IndexedEntry(
        entry_id=entry_id,
        params_hash=params,
        vector=unit_vector(values),
        answer={"body": {"id": entry_id}},
        expires_at=time.time() + ttl,
    )


def test_the_nearest_entry_at_or_above_the_threshold():
    index = ScopeIndex(embedding_model="e", capacity=10)
    index.add(_entry(1, [1, 0, 0]))
    index.add(_entry(2, [0.8, 0.6, 0]))
    query = unit_vector([0.9, 0.43, 0])
    score, answer = index.best(vector=query, params_hash="p", threshold=0.9)
    assert answer["body"]["id"] == 2
    assert score == pytest.approx(float(np.dot(query, unit_vector([0.8, 0.6, 0]))), abs=1e-6)
    assert index.best(vector=unit_vector([0, 0, 1]), params_hash="p", threshold=0.5) is None


def test_other_parameters_never_match():
    index = ScopeIndex(embedding_model="e", capacity=10)
    index.add(_entry(1, [1, 0], params="a"))
    assert index.best(vector=unit_vector([1, 0]), params_hash="b", threshold=0.5) is None
    index.add(_entry(2, [0.6, 0.8], params="b"))
    _, answer = index.best(vector=unit_vector([1, 0]), params_hash="b", threshold=0.5)
    assert answer["body"]["id"] == 2  # not entry 1, though that one is identical


def test_expired_entries_are_not_served():
    index = ScopeIndex(embedding_model="e", capacity=10)
    index.add(_entry(1, [1, 0], ttl=-1))
    assert index.best(vector=unit_vector([1, 0]), params_hash="p", threshold=0.5) is None
    later = time.time() + 120
    index.add(_entry(2, [1, 0], ttl=60))
    assert index.best(vector=unit_vector([1, 0]), params_hash="p", threshold=0.5) is not None
    assert index.best(vector=unit_vector([1, 0]), params_hash="p", threshold=0.5, now=later) is None


def test_the_bound_drops_the_oldest_entry():
    index = ScopeIndex(embedding_model="e", capacity=100)
    for entry_id in range(1, 151):  # grows past its first allocation, then wraps
        index.add(_entry(entry_id, [1, entry_id / 1000]))
    assert len(index) == 100
    first = unit_vector([1, 1 / 1000])
    _, answer = index.best(vector=first, params_hash="p", threshold=0.0)
    assert answer["body"]["id"] == 51  # the nearest left: entries 1..50 are gone
    index.add(_entry(200, [0, 1]))
    _, answer = index.best(vector=unit_vector([0, 1]), params_hash="p", threshold=0.99)
    assert answer["body"]["id"] == 200


def test_entries_gone_from_the_database_are_forgotten():
    index = ScopeIndex(embedding_model="e", capacity=10)
    index.add(_entry(1, [1, 0]))
    index.add(_entry(2, [0.9, 0.1]))
    index.retain({2})
    assert len(index) == 1
    _, answer = index.best(vector=unit_vector([1, 0]), params_hash="p", threshold=0.5)
    assert answer["body"]["id"] == 2


def test_vectors_of_another_size_are_not_compared():
    index = ScopeIndex(embedding_model="e", capacity=10)
    index.add(_entry(1, [1, 0, 0]))
    index.add(_entry(2, [1, 0]))
    assert len(index) == 1
    assert index.best(vector=unit_vector([1, 0]), params_hash="p", threshold=0.1) is None


def test_a_zero_vector_has_no_direction():
    assert unit_vector([0, 0]) is None
    assert unit_vector([]) is None


@pytest.fixture
def config(tenant, small_catalog):
    return RoutingConfig.objects.create(tenant=tenant, name="sim", primary_model="gpt-4o-mini")


def _create(config, values, *, ttl=60, max_entries=3, model="openai/text-embedding-3-small"):
    return semantic_entry_create(
        tenant_id=config.tenant_id,
        config_id=config.pk,
        embedding_model=model,
        params_hash="p",
        vector=unit_vector(values),
        answer={"body": {"n": values[0]}},
        ttl_seconds=ttl,
        max_entries=max_entries,
    )


def test_rows_keep_the_newest_within_the_bound(config):
    created = [_create(config, [n, 1]) for n in range(5)]
    kept = SemanticCacheEntry.objects.order_by("id").values_list("id", flat=True)
    assert list(kept) == [e.entry_id for e in created[-3:]]
    loaded = semantic_entries_since(
        tenant_id=config.tenant_id,
        config_id=config.pk,
        embedding_model="openai/text-embedding-3-small",
        after_id=0,
        limit=10,
    )
    assert [e.entry_id for e in loaded] == [e.entry_id for e in created[-3:]]
    assert np.allclose(loaded[-1].vector, unit_vector([4, 1]))
    assert loaded[-1].answer == {"body": {"n": 4}}


def test_expired_rows_are_neither_loaded_nor_kept(config):
    old = _create(config, [1, 0])
    SemanticCacheEntry.objects.filter(pk=old.entry_id).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    args = {
        "tenant_id": config.tenant_id,
        "config_id": config.pk,
        "embedding_model": "openai/text-embedding-3-small",
        "after_id": 0,
        "limit": 10,
    }
    assert semantic_entries_since(**args) == []
    fresh = _create(config, [0, 1])
    assert list(SemanticCacheEntry.objects.values_list("id", flat=True)) == [fresh.entry_id]


def test_rows_of_another_embedding_model_are_not_loaded(config):
    _create(config, [1, 0], model="openai/text-embedding-ada-002")
    new = _create(config, [1, 0])
    loaded = semantic_entries_since(
        tenant_id=config.tenant_id,
        config_id=config.pk,
        embedding_model="openai/text-embedding-3-small",
        after_id=0,
        limit=10,
    )
    assert [e.entry_id for e in loaded] == [new.entry_id]


def test_rows_of_another_tenant_are_not_loaded(config, other_tenant):
    theirs = RoutingConfig.objects.create(
        tenant=other_tenant, name="sim", primary_model="gpt-4o-mini"
    )
    _create(theirs, [1, 0])
    loaded = semantic_entries_since(
        tenant_id=config.tenant_id,
        config_id=theirs.pk,  # even with their config's id
        embedding_model="openai/text-embedding-3-small",
        after_id=0,
        limit=10,
    )
    assert loaded == []


@pytest.mark.parametrize("dimensions", [64, 256, 512, 1536])
@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.95, 0.99])
def test_the_pruned_search_finds_what_a_full_scan_finds(dimensions, threshold):
    """Against brute force, on vectors that put most of their length first (as embeddings do)
    and on near-copies of the queries: the first pass may skip rows, never the answer."""
    rng = np.random.default_rng(dimensions)
    decay = np.exp(-np.arange(dimensions) / (dimensions / 6)).astype(np.float32)
    base = rng.standard_normal((600, dimensions)).astype(np.float32) * decay
    queries = rng.standard_normal((40, dimensions)).astype(np.float32) * decay
    near = queries[:20, None, :] + 0.15 * rng.standard_normal((20, 10, dimensions)) * decay
    rows = np.vstack([base, near.reshape(-1, dimensions).astype(np.float32)])
    index = ScopeIndex(embedding_model="e", capacity=len(rows))
    units = [unit_vector(r) for r in rows]
    for entry_id, vector in enumerate(units, start=1):
        params = "q" if entry_id % 7 else "other"
        index.add(IndexedEntry(entry_id, params, vector, {"id": entry_id}, time.time() + 60))
    matrix = np.vstack(units)
    allowed = np.array([(i + 1) % 7 != 0 for i in range(len(units))])
    served = 0
    for query in queries:
        vector = unit_vector(query)
        scores = np.where(allowed, matrix @ vector, -2)
        expected = int(np.argmax(scores)) + 1 if scores.max() >= threshold else None
        found = index.best(vector=vector, params_hash="q", threshold=threshold)
        assert (found[1]["id"] if found else None) == expected
        served += found is not None
    assert served  # the near-copies are found at every threshold
