"""How a model reference names a catalog model: the one rule for the database and the snapshots.

`provider/model_id` names that model. A bare `model_id` names the only active model with that
id; where several providers list it (OpenAI's `gpt-4o-mini` is also on Azure), it names the one
listed by its first-party provider (the catalog's `first_party`), and only an id that several
providers host without a first party among them is ambiguous. A bare id may itself contain a
slash (`meta-llama/Llama-3.3-70B`), so a failed qualified lookup is retried as a bare id.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

Model = TypeVar("Model")


class _HasModelId(Protocol):
    model_id: str


Listed = TypeVar("Listed", bound=_HasModelId)


def model_ref_index(
    models: Iterable[Listed], *, qualified_id: Callable[[Listed], str]
) -> tuple[dict[str, Listed], dict[str, list[Listed]]]:
    """The two lookups model_ref_resolve reads, built in one pass: each model by its
    `provider/model_id`, and every model under its bare id."""
    by_qualified: dict[str, Listed] = {}
    by_bare: dict[str, list[Listed]] = {}
    for model in models:
        by_qualified[qualified_id(model)] = model
        by_bare.setdefault(model.model_id, []).append(model)
    return by_qualified, by_bare


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


def model_ref_resolve_among(
    ref: object,
    *,
    models: Iterable[Listed],
    qualified_id: Callable[[Listed], str],
    first_party: Callable[[Listed], bool],
) -> Listed | None:
    """One lookup in a list of models (a query's candidates); a catalog that answers many
    lookups builds model_ref_index once instead."""
    by_qualified, by_bare = model_ref_index(models, qualified_id=qualified_id)
    return model_ref_resolve(
        ref, by_qualified=by_qualified, by_bare=by_bare, first_party=first_party
    )
