"""Setting catalog fields on Provider and LLMModel rows, and reporting what changed.

Both writers use it: catalog_load.py (our file) and litellm_prices.py (LiteLLM's map). A field
is written only if it differs (prices compared as numbers), so a repeated run changes nothing.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from llm.models import normalize_price
from llm.services.catalog_file import CatalogInvalid

Progress = Callable[[str], None]


@dataclass
class CatalogReport:
    """What a load or refresh did; `changes` holds one human-readable line per changed field."""

    providers: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        keys = ("created", "updated", "deactivated")
        return any(self.providers[k] or self.models[k] for k in keys)

    def summary(self) -> str:
        def part(name: str, counts: Counter) -> str:
            keys = ["created", "updated", "unchanged", "deactivated", "not_found"]
            shown = [f"{counts[k]} {k.replace('_', ' ')}" for k in keys if counts[k]]
            return f"{name}: {', '.join(shown) or 'none'}"

        return f"{part('providers', self.providers)}; {part('models', self.models)}"


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal | int) and isinstance(new, Decimal | int):
        return normalize_price(old) == normalize_price(new)
    return old == new


def catalog_fields_apply(
    instance, fields: dict[str, Any], label: str, report: CatalogReport
) -> list[str]:
    """Set the fields that differ; return the names of those that changed. On a row that
    exists already, each change is reported as one line of `report.changes`."""
    changed = []
    for name, new in fields.items():
        old = getattr(instance, name)
        if _same(old, new):
            continue
        changed.append(name)
        if instance.pk is not None:
            report.changes.append(f"{label}: {name} {_show(old)} -> {_show(new)}")
        setattr(instance, name, new)
    return changed


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(normalize_price(value))
    return "null" if value is None else str(value)


def catalog_row_save(instance, label: str) -> None:
    """Validate and save a provider or model; a field the model refuses is CatalogInvalid."""
    try:
        instance.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise CatalogInvalid([f"{label}: {exc.message_dict}"]) from exc
    instance.save()
