"""Operator writes of single catalog rows (providers, models) behind the management API."""

from django.db.models import ProtectedError

from core.db import save_or_conflict
from core.errors import Conflict
from llm.models import LLMModel, Provider


def provider_save(*, provider: Provider) -> Provider:
    provider.full_clean()
    provider.save()
    return provider


def provider_delete(*, provider: Provider) -> None:
    try:
        provider.delete()
    except ProtectedError as exc:
        raise Conflict(
            "Tenants hold credentials for this provider; deactivate it instead."
        ) from exc


def llm_model_save(*, model: LLMModel) -> LLMModel:
    return save_or_conflict(
        instance=model, conflict="This provider already has a model with this id."
    )


def llm_model_delete(*, model: LLMModel) -> None:
    model.delete()
