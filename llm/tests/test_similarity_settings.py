"""The routing config's `similarity_cache` object: errors that name the field, in the config
API and in the admin; a saved config's snapshot carries the settings only when they are on."""

import pytest

from llm.models import LLMModel, RoutingConfig
from llm.services.routing_snapshots import ConfigInfo
from llm.similarity_settings import SimilaritySettings, similarity_settings_from
from tests.support.api import assert_error

URL = "/api/v1/configs/"
ON = {"enabled": True, "embedding_model": "openai/text-embedding-3-small"}


@pytest.fixture
def embedding_model(small_catalog):
    return LLMModel.objects.create(
        provider=small_catalog["openai"],
        model_id="text-embedding-3-small",
        kind=LLMModel.Kind.EMBEDDING,
        context_window=8191,
        max_output_tokens=0,
        input_price_per_1m="0.02",
        output_price_per_1m="0",
        capabilities=["dimensions"],
    )


def _payload(similarity) -> dict:
    return {"name": "sim", "primary_model": "openai/gpt-4o-mini", "similarity_cache": similarity}


def test_api_saves_and_returns_the_settings(owner_client, embedding_model):
    settings = {**ON, "threshold": 0.9, "max_entries": 50, "ttl_seconds": 600, "dimensions": 256}
    response = owner_client.post(URL, _payload(settings), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["similarity_cache"] == settings
    stored = RoutingConfig.objects.get(pk=response.json()["id"])
    info = ConfigInfo.from_config(stored)
    assert info.similarity == SimilaritySettings(
        enabled=True,
        embedding_model="openai/text-embedding-3-small",
        threshold=0.9,
        max_entries=50,
        ttl_seconds=600,
        dimensions=256,
    )


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({**ON, "threshold": 1.5}, "similarity_cache.threshold", "at most 1"),
        ({**ON, "threshold": 0}, "similarity_cache.threshold", "above 0"),
        ({**ON, "threshold": True}, "similarity_cache.threshold", "number"),
        ({**ON, "max_entries": 0}, "similarity_cache.max_entries", "from 1 to 10000"),
        ({**ON, "max_entries": 10_001}, "similarity_cache.max_entries", "from 1 to 10000"),
        ({**ON, "ttl_seconds": -5}, "similarity_cache.ttl_seconds", "integer"),
        ({**ON, "allow_tools": "yes"}, "similarity_cache.allow_tools", "true or false"),
        ({**ON, "enabled": 1}, "similarity_cache.enabled", "true or false"),
        ({**ON, "colour": "blue"}, "similarity_cache.colour", "Unknown field"),
        ({"enabled": True}, "similarity_cache.embedding_model", "Required"),
        (
            {**ON, "embedding_model": "openai/gpt-4o-mini"},
            "similarity_cache.embedding_model",
            "is a chat model",
        ),
        (
            {**ON, "embedding_model": "openai/nope"},
            "similarity_cache.embedding_model",
            "Unknown or inactive embedding model",
        ),
    ],
)
def test_api_errors_name_the_field(owner_client, embedding_model, settings, field, words):
    response = owner_client.post(URL, _payload(settings), format="json")
    error = assert_error(response, 400, "invalid_request")
    assert field in error["fields"], error
    assert words in " ".join(error["fields"][field])
    assert not RoutingConfig.objects.exists()


def test_dimensions_need_a_model_that_shortens(owner_client, embedding_model):
    embedding_model.capabilities = []
    embedding_model.save()
    response = owner_client.post(URL, _payload({**ON, "dimensions": 256}), format="json")
    error = assert_error(response, 400, "invalid_request")
    assert "one size only" in error["fields"]["similarity_cache.dimensions"][0]


def test_admin_shows_the_error_on_the_field(client, owner, embedding_model):
    from django.urls import reverse

    client.force_login(owner)
    data = {
        "name": "support",
        "primary_model": "openai/gpt-4o-mini",
        "fallback_models": "[]",
        "params": "{}",
        "rules": "[]",
        "cache_ttl_seconds": "0",
        "similarity_cache": '{"enabled": true, "embedding_model": "openai/gpt-4o-mini"}',
    }
    response = client.post(reverse("admin:llm_routingconfig_add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "similarity_cache.embedding_model" in " ".join(errors["similarity_cache"])
    assert not RoutingConfig.objects.exists()
    data["similarity_cache"] = '{"enabled": true, "embedding_model": "text-embedding-3-small"}'
    response = client.post(reverse("admin:llm_routingconfig_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert RoutingConfig.objects.get().similarity_cache["enabled"] is True


@pytest.mark.parametrize(
    "value", [{}, None, {"enabled": False, **{k: v for k, v in ON.items() if k != "enabled"}}]
)
def test_off_means_no_settings(value):
    assert similarity_settings_from(value) is None


def test_defaults_fill_what_is_left_out():
    settings = similarity_settings_from(ON)
    assert settings is not None
    assert (settings.threshold, settings.max_entries, settings.ttl_seconds) == (0.95, 1000, 86400)
    assert not settings.allow_tools and not settings.allow_temperature
