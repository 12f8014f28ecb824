"""How a model reference names a catalog model: the one rule for the database and the snapshots.

`provider/model_id` names that model; a bare `model_id` names the only active model with that id.
A bare id may itself contain a slash (`meta-llama/Llama-3.3-70B`), so a failed qualified lookup
is retried as a bare id.
"""

from collections.abc import Mapping, Sequence
from typing import TypeVar

Model = TypeVar("Model")


def model_ref_resolve(
    ref: object, *, by_qualified: Mapping[str, Model], by_bare: Mapping[str, Sequence[Model]]
) -> Model | None:
    if not isinstance(ref, str) or not ref:
        return None
    found = by_qualified.get(ref)
    if found is not None:
        return found
    matches = by_bare.get(ref, ())
    return matches[0] if len(matches) == 1 else None
