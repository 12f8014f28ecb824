"""What a similarity-cache miss carries to the end of its request: the embedded prompt and where
to store the answer. Its own module so the request context can name it without importing the
cache (which imports the context)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from llm.similarity_settings import SimilaritySettings


@dataclasses.dataclass(frozen=True)
class SimilarityProbe:
    """A request's embedded prompt, kept to store its answer after a miss."""

    settings: SimilaritySettings
    tenant_id: int
    config_id: int
    embedding_model: str
    params_hash: str
    vector: np.ndarray
