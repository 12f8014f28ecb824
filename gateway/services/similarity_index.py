"""The similarity cache's in-process index of one (tenant, config): the stored prompts' unit
vectors as one float32 matrix, searched exactly (one matrix-vector product, masked to the
request's parameters hash and to entries not yet expired).

Exact, and cheaper than reading every whole vector: a first pass scores each row on its first
HEAD dimensions (a separate, small matrix) and bounds what the rest could add (Cauchy-Schwarz:
the query's tail norm times the row's); only rows whose bound reaches the threshold are scored
in full. Embeddings put most of their length in the first dimensions (OpenAI's are trained so),
so at a threshold of 0.95 the second pass sees few rows; when it would see many, one full pass.

A ring of at most `capacity` rows (the config's max_entries): a new entry past the bound takes
the oldest one's row, as the database drops the oldest entry. Pure numpy, no Django: the
database side is gateway.services.similarity_store, the refresh policy similarity_cache.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

# One BLAS thread: a matrix-vector product is bound by memory, not cores, and a gateway worker
# is one event loop beside others; BLAS threads spinning on a busy machine cost more than they
# save (bench/README.md, "Similarity cache lookup"). Only applies if numpy is not loaded yet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

_FIRST_ROWS = 64  # rows allocated at first; doubled up to the capacity as entries come
HEAD = 128  # dimensions of the first pass (vectors shorter than 2 x HEAD: one full pass)
_ROUNDING = 1e-4  # float32 rounding of the bound: a row is never pruned by rounding alone


@dataclass(frozen=True)
class IndexedEntry:
    entry_id: int
    params_hash: str
    vector: np.ndarray  # float32, unit length
    answer: dict[str, Any]
    expires_at: float  # time.time() seconds


def unit_vector(values: Any) -> np.ndarray | None:
    """`values` as a float32 unit vector; None for an empty, zero or non-finite one."""
    vector = np.asarray(values, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector)) if vector.size else 0.0
    if not norm or not np.isfinite(norm):
        return None
    return vector / np.float32(norm)


class ScopeIndex:
    """The entries of one (tenant, config) for one embedding model and vector size."""

    def __init__(self, *, embedding_model: str, capacity: int) -> None:
        self.embedding_model = embedding_model
        self.capacity = capacity
        self.dimensions: int | None = None
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._heads = np.zeros((0, 0), dtype=np.float32)  # the first HEAD columns, contiguous
        self._tails = np.zeros(0, dtype=np.float32)  # the norm of each row past HEAD
        self._ids = np.zeros(0, dtype=np.int64)
        self._codes = np.zeros(0, dtype=np.int32)
        self._expires = np.zeros(0, dtype=np.float64)
        self._answers: list[dict[str, Any] | None] = []
        self._codes_by_hash: dict[str, int] = {}
        self._present: set[int] = set()
        self._written = 0  # rows ever written: the next row is _written % capacity at the bound
        self.last_loaded_id = 0  # the highest id read from the database

    def __len__(self) -> int:
        return len(self._present)

    def add(self, entry: IndexedEntry) -> None:
        if entry.entry_id in self._present:
            return
        if self.dimensions is None:
            self.dimensions = int(entry.vector.shape[0])
        if entry.vector.shape[0] != self.dimensions:
            return  # stored under another vector size: never comparable
        row = self._next_row()
        old = int(self._ids[row])
        self._present.discard(old)
        self._vectors[row] = entry.vector
        if self._split:
            self._heads[row] = entry.vector[:HEAD]
            self._tails[row] = np.linalg.norm(entry.vector[HEAD:])
        self._ids[row] = entry.entry_id
        self._codes[row] = self._code(entry.params_hash, create=True)
        self._expires[row] = entry.expires_at
        self._answers[row] = entry.answer
        self._present.add(entry.entry_id)
        self._written += 1

    def retain(self, ids: set[int]) -> None:
        """Forget the entries not in `ids` (gone from the database: evicted elsewhere)."""
        rows = min(self._written, self.capacity)
        for row in range(rows):
            entry_id = int(self._ids[row])
            if entry_id in self._present and entry_id not in ids:
                self._present.discard(entry_id)
                self._codes[row] = -1
                self._answers[row] = None

    def best(
        self, *, vector: np.ndarray, params_hash: str, threshold: float, now: float | None = None
    ) -> tuple[float, dict[str, Any]] | None:
        """The most similar live entry with these parameters, when at or above `threshold`."""
        code = self._code(params_hash, create=False)
        rows = min(self._written, self.capacity)
        if code is None or not rows or vector.shape[0] != self.dimensions:
            return None
        live = (self._codes[:rows] == code) & (self._expires[:rows] > (now or time.time()))
        if self._split:
            bound = self._heads[:rows] @ vector[:HEAD]
            bound += np.float32(np.linalg.norm(vector[HEAD:])) * self._tails[:rows]
            rows_left = np.flatnonzero(live & (bound >= np.float32(threshold - _ROUNDING)))
        else:
            rows_left = np.flatnonzero(live)
        if not rows_left.size:
            return None
        if rows_left.size * 4 < rows:
            scores = self._vectors[rows_left] @ vector
        else:
            scores = (self._vectors[:rows] @ vector)[rows_left]
        best = int(np.argmax(scores))
        score, row = float(scores[best]), int(rows_left[best])
        if score < threshold:
            return None
        answer = self._answers[row]
        return (score, answer) if answer is not None else None

    @property
    def _split(self) -> bool:
        return (self.dimensions or 0) >= 2 * HEAD

    def _code(self, params_hash: str, *, create: bool) -> int | None:
        code = self._codes_by_hash.get(params_hash)
        if code is None and create:
            code = self._codes_by_hash[params_hash] = len(self._codes_by_hash)
        return code

    def _next_row(self) -> int:
        if self._written >= self.capacity:
            return self._written % self.capacity
        if self._written >= self._vectors.shape[0]:
            self._grow(min(self.capacity, max(_FIRST_ROWS, 2 * self._vectors.shape[0])))
        return self._written

    def _grow(self, rows: int) -> None:
        size = self._vectors.shape[0]
        vectors = np.zeros((rows, self.dimensions or 0), dtype=np.float32)
        if size:
            vectors[:size] = self._vectors
        self._vectors = vectors
        if self._split:
            heads = np.zeros((rows, HEAD), dtype=np.float32)
            if size:
                heads[:size] = self._heads
            self._heads = heads
            self._tails = np.concatenate([self._tails, np.zeros(rows - size, dtype=np.float32)])
        self._ids = np.concatenate([self._ids, np.zeros(rows - size, dtype=np.int64)])
        self._codes = np.concatenate([self._codes, np.full(rows - size, -1, dtype=np.int32)])
        self._expires = np.concatenate([self._expires, np.zeros(rows - size)])
        self._answers.extend([None] * (rows - size))
