"""How a model reference names a catalog model: the one rule for the database and the snapshots.

`provider/model_id` names that model. A bare `model_id` names the only active model with that
id; where several providers list it (OpenAI's `gpt-4o-mini` is also on Azure), it names the one
listed by its first-party provider (the catalog's `first_party`), and only an id that several
providers host without a first party among them is ambiguous. A bare id may itself contain a
slash (`meta-llama/Llama-3.3-70B`), so a failed qualified lookup is retried as a bare id.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

Model = TypeVar("Model")


def model_ref_resolve(
    ref: object,
    *,
    by_qualified: Mapping[str, Model],
    by_bare: Mapping[str, Sequence[Model]],
    first_party: Callable[[Model], bool],
) -> Model | None:
    if not isinstance(ref, str) or not ref:
        return None
    found = by_qualified.get(ref)
    if found is not None:
        return found
    matches = by_bare.get(ref, ())
    if len(matches) == 1:
        return matches[0]
    own = [model for model in matches if first_party(model)]
    return own[0] if len(own) == 1 else None
