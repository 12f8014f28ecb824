"""What a similarity-cache lookup costs beyond its embedding call, with 10,000 entries in one
config (the largest bound a config may set): the parameters hash, the query's normalisation
and the exact cosine search of the in-process index (gateway.services.similarity_index), for
embedding sizes 256, 768 and 1536, all entries under the request's parameters (the worst case:
nothing masked out). Then the database side, which runs in a worker thread and not on every
request: the refresh read (at most once a second per config; usually no new row), a full load
of 10,000 entries (at most once a minute), and one store at the bound (insert + eviction, in the
background after the answer went out).

Usage: .venv/bin/python bench/similarity_lookup.py [--lookup-only]
DATABASE_URL as the app reads it (a temporary SQLite file when unset; the schema is migrated
there). Prints `SIMILARITY_LOOKUP` and `SIMILARITY_DB` lines: median and p99 milliseconds
(wall clock; the lookup also its minimum and median thread CPU time, which a busy machine
distorts less).
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = tempfile.mkdtemp(prefix="tg-similarity-bench-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{os.path.join(SCRATCH, 'bench.sqlite3')}")
os.environ["TOLLGATE_SHARED_STATE_FILE"] = os.path.join(SCRATCH, "shared.sqlite3")
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as gateway.services.similarity_index sets
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from gateway.services.similarity_cache import params_hash  # noqa: E402
from gateway.services.similarity_index import (  # noqa: E402
    IndexedEntry,
    ScopeIndex,
    unit_vector,
)

ENTRIES = 10_000
LOOKUPS = 1_000
DIMENSIONS = (256, 768, 1536)
BODY = {
    "model": "auto",
    "temperature": 0,
    "max_tokens": 512,
    "messages": [
        {"role": "system", "content": "You answer questions about our product. " * 20},
        {"role": "user", "content": "How do I rotate my API key?"},
    ],
}
REQUEST = SimpleNamespace(
    body=BODY,
    decision=SimpleNamespace(
        candidates=[SimpleNamespace(qualified_id=m) for m in ("openai/gpt-4o-mini", "x/y")]
    ),
)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def _rows(shape: str, dimensions: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Stored vectors and queries. isotropic: every dimension alike (the first pass prunes
    almost everything); decaying: the length falls off along the dimensions, as in embeddings
    trained to be shortened (misses); decaying_hit: the same, each query a near-copy of one
    stored entry (hits); near: every entry a near-copy of the one query (the worst case:
    nothing can be pruned, one full pass)."""
    if shape == "near":
        centre = rng.standard_normal(dimensions)
        rows = centre + 0.1 * rng.standard_normal((ENTRIES, dimensions))
        queries = [(centre + 0.1 * rng.standard_normal(dimensions)).tolist()] * LOOKUPS
        return rows, queries
    scale = np.ones(dimensions)
    if shape.startswith("decaying"):
        scale = np.exp(-np.arange(dimensions) / (dimensions / 6))
    rows = rng.standard_normal((ENTRIES, dimensions)) * scale
    if shape == "decaying_hit":
        picks = rng.integers(0, ENTRIES, LOOKUPS)
        noise = 0.05 * rng.standard_normal((LOOKUPS, dimensions)) * scale
        return rows, (rows[picks] + noise).tolist()
    queries = [(rng.standard_normal(dimensions) * scale).tolist() for _ in range(LOOKUPS)]
    return rows, queries


def _index(rows: np.ndarray) -> ScopeIndex:
    index = ScopeIndex(embedding_model="bench/embedding", capacity=ENTRIES)
    hashed = params_hash(REQUEST)
    expires = time.time() + 3600
    for entry_id, row in enumerate(rows, start=1):
        index.add(IndexedEntry(entry_id, hashed, unit_vector(row), {"id": entry_id}, expires))
    return index


def bench_lookup() -> None:
    rng = np.random.default_rng(7)
    for shape in ("isotropic", "decaying", "decaying_hit", "near"):
        for dimensions in DIMENSIONS:
            rows, queries = _rows(shape, dimensions, rng)
            index = _index(rows)
            wall, cpu, hits = [], [], 0
            for raw in queries:  # raw: the floats the embeddings call returned
                started, started_cpu = time.perf_counter(), time.thread_time()
                hashed = params_hash(REQUEST)
                vector = unit_vector(raw)
                hits += index.best(vector=vector, params_hash=hashed, threshold=0.95) is not None
                cpu.append((time.thread_time() - started_cpu) * 1000)
                wall.append((time.perf_counter() - started) * 1000)
            p50, p99 = _percentiles(wall[50:])  # the first ones warm the caches
            cpu50, _ = _percentiles(cpu[50:])
            print(
                f"SIMILARITY_LOOKUP shape={shape} entries={ENTRIES} dimensions={dimensions} "
                f"min_ms={min(wall[50:]):.3f} p50_ms={p50:.3f} p99_ms={p99:.3f} "
                f"cpu_p50_ms={cpu50:.3f} hits={hits}",
                flush=True,
            )


def bench_database() -> None:
    from django.core.management import call_command

    from gateway.models import SemanticCacheEntry
    from gateway.services.similarity_store import semantic_entries_since, semantic_entry_create
    from llm.models import RoutingConfig
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(slug=f"bench-{os.getpid()}", name="Bench")
    config = RoutingConfig.objects.create(tenant=tenant, name="sim", primary_model="x")
    rng = np.random.default_rng(11)
    dimensions, model, hashed = 1536, "bench/embedding", params_hash(REQUEST)
    now = django.utils.timezone.now()
    SemanticCacheEntry.objects.bulk_create(
        SemanticCacheEntry(
            tenant=tenant,
            config=config,
            embedding_model=model,
            params_hash=hashed,
            embedding=unit_vector(rng.standard_normal(dimensions)).astype("<f4").tobytes(),
            answer={"body": {"id": n, "choices": [{"message": {"content": "x" * 400}}]}},
            created_at=now,
            expires_at=now + django.utils.timezone.timedelta(hours=1),
        )
        for n in range(ENTRIES)
    )
    scope = {"tenant_id": tenant.pk, "config_id": config.pk, "embedding_model": model}
    last = SemanticCacheEntry.objects.order_by("-id").values_list("id", flat=True).first()

    def timed(call, repeat: int) -> tuple[float, float]:
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        return _percentiles(samples)

    cases = {
        "refresh_no_new_rows": (
            lambda: semantic_entries_since(**scope, after_id=last, limit=ENTRIES),
            200,
        ),
        "full_load_10000": (
            lambda: semantic_entries_since(**scope, after_id=0, limit=ENTRIES),
            5,
        ),
        "store_at_bound": (
            lambda: semantic_entry_create(
                **scope,
                params_hash=hashed,
                vector=unit_vector(rng.standard_normal(dimensions)),
                answer={"body": {"id": 0}},
                ttl_seconds=3600,
                max_entries=ENTRIES,
            ),
            50,
        ),
    }
    engine = django.db.connection.vendor
    for name, (call, repeat) in cases.items():
        p50, p99 = timed(call, repeat)
        print(
            f"SIMILARITY_DB db={engine} case={name} dimensions={dimensions} "
            f"p50_ms={p50:.2f} p99_ms={p99:.2f}",
            flush=True,
        )
    tenant.delete()


if __name__ == "__main__":
    bench_lookup()
    if "--lookup-only" not in sys.argv:
        bench_database()
