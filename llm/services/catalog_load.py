"""Applying our catalog file to the database (`manage.py load_catalog`).

The file is the source of truth for the fields it sets. A load overwrites only those fields: a
field the file leaves out (say `capabilities`, or `price.cached_input`) keeps whatever the admin
set. Models and providers missing from the file are never deleted (usage rows may refer to
them); they are deactivated only on request. Every price change appends an `LLMModelPrice` row
(see `LLMModel.save`), so the price in force at any earlier time stays known (model_prices.py).
"""

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from django.db import transaction

from llm.models import LLMModel, Provider
from llm.services.catalog_changes import (
    CatalogReport,
    Progress,
    catalog_fields_apply,
    catalog_row_save,
)
from llm.services.catalog_file import PRICE_KEYS, catalog_read


def _provider_fields(spec: dict) -> dict[str, Any]:
    fields = {
        "name": spec["name"],
        "wire_format": spec["wire_format"],
        "base_url": spec["base_url"],
    }
    optional = {
        "auth_style": "auth_style",
        "features": "features",
        "api_key_env": "api_key_env",
        "litellm_provider": "litellm_provider",
        "first_party": "first_party",
        "is_active": "is_active",
    }
    fields.update({attr: spec[key] for key, attr in optional.items() if key in spec})
    return fields


def _model_fields(spec: dict) -> dict[str, Any]:
    fields = {
        "context_window": spec["context_window"],
        "max_output_tokens": spec["max_output_tokens"],
    }
    optional = {
        "name": "display_name",
        "capabilities": "capabilities",
        "speed_tier": "speed_tier",
        "quality_tier": "quality_tier",
        "litellm_key": "litellm_key",
        "kind": "kind",
        "is_active": "is_active",
    }
    fields.update({attr: spec[key] for key, attr in optional.items() if key in spec})
    for key, price in spec["_prices"].items():
        fields[PRICE_KEYS[key]] = price
    price = spec.get("price") or {}
    if "source" in price:
        fields["price_source"] = price["source"]
    if "date" in price:
        fields["price_updated_at"] = date.fromisoformat(price["date"])
    return fields


@transaction.atomic
def catalog_load(
    *,
    path: Path | str | None = None,
    deactivate_missing: bool = False,
    progress: Progress | None = None,
) -> CatalogReport:
    """Create or update providers and models from a catalog file, in one transaction.

    Idempotent: a second run with the same file changes nothing and reports so.
    """
    specs = catalog_read(path=path)
    report = CatalogReport()
    providers = {p.slug: p for p in Provider.objects.all()}
    seen_models: set[tuple[str, str]] = set()
    for spec in specs:
        slug = spec["slug"]
        provider = providers.get(slug) or Provider(slug=slug)
        created = provider.pk is None
        if catalog_fields_apply(provider, _provider_fields(spec), slug, report) or created:
            catalog_row_save(provider, slug)
            status = "created" if created else "updated"
        else:
            status = "unchanged"
        report.providers[status] += 1
        counts = _load_models(provider=provider, specs=spec["models"], report=report)
        seen_models.update((slug, model["id"]) for model in spec["models"])
        if progress:
            shown = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if n)
            progress(f"{slug}: provider {status}; models {shown or 'none'}")
    if deactivate_missing:
        _deactivate_missing(
            provider_slugs={s["slug"] for s in specs}, model_keys=seen_models, report=report
        )
    return report


def _load_models(*, provider: Provider, specs: list[dict], report: CatalogReport) -> Counter:
    existing = {m.model_id: m for m in LLMModel.objects.filter(provider=provider)}
    counts: Counter = Counter()
    for spec in specs:
        model = existing.get(spec["id"]) or LLMModel(provider=provider, model_id=spec["id"])
        created = model.pk is None
        label = f"{provider.slug}/{spec['id']}"
        if catalog_fields_apply(model, _model_fields(spec), label, report) or created:
            catalog_row_save(model, label)
            counts["created" if created else "updated"] += 1
        else:
            counts["unchanged"] += 1
    report.models.update(counts)
    return counts


def _deactivate_missing(
    *, provider_slugs: set[str], model_keys: set[tuple[str, str]], report: CatalogReport
) -> None:
    for provider in Provider.objects.filter(is_active=True).exclude(slug__in=provider_slugs):
        provider.is_active = False
        provider.save(update_fields=["is_active", "updated_at"])
        report.providers["deactivated"] += 1
        report.changes.append(f"{provider.slug}: deactivated (not in the file)")
    for model in LLMModel.objects.filter(is_active=True).select_related("provider"):
        if (model.provider.slug, model.model_id) not in model_keys:
            model.is_active = False
            model.save(update_fields=["is_active", "updated_at"])
            report.models["deactivated"] += 1
            report.changes.append(f"{model.qualified_id}: deactivated (not in the file)")
