"""models/: the catalog with filters (provider, capability, max price); write for staff."""

from llm.models import LLMModel, Provider
from llm.tests.api.catalog_support import GROQ, MODELS, PROVIDERS, post_groq
from tests.support.api import assert_error


def test_model_shape_matches_contract(key_client, small_catalog):
    response = key_client("read").get(f"{MODELS}openai/gpt-4o-mini/")
    assert response.status_code == 200, response.content
    body = response.json()
    expected = {
        "id": "openai/gpt-4o-mini",
        "provider": "openai",
        "model_id": "gpt-4o-mini",
        "context_window": 128000,
        "max_output_tokens": 16384,
        "input_price_per_1m": "0.15",
        "output_price_per_1m": "0.60",
        "cached_input_price_per_1m": "0.075",
        "capabilities": ["tools", "vision", "json_mode", "streaming"],
        "speed_tier": "fast",
        "quality_tier": "good",
    }
    for field, value in expected.items():
        assert body[field] == value, field


def test_model_filters(member_client, small_catalog):
    def ids(**params):
        response = member_client.get(MODELS, params)
        assert response.status_code == 200, response.content
        return [m["id"] for m in response.json()["results"]]

    assert ids() == [
        "anthropic/claude-haiku-4-5",
        "anthropic/claude-sonnet-4-5",
        "openai/gpt-4.1",
        "openai/gpt-4o-mini",
    ]
    assert ids(provider="openai") == ["openai/gpt-4.1", "openai/gpt-4o-mini"]
    assert ids(capability="vision") == [
        "anthropic/claude-sonnet-4-5",
        "openai/gpt-4.1",
        "openai/gpt-4o-mini",
    ]
    assert ids(max_input_price="1") == ["anthropic/claude-haiku-4-5", "openai/gpt-4o-mini"]
    assert ids(max_output_price="5", capability="vision") == ["openai/gpt-4o-mini"]
    assert_error(member_client.get(MODELS, {"max_input_price": "cheap"}), 400, "invalid_request")


def test_inactive_models_hidden_from_tenants(member_client, operator_client, small_catalog):
    LLMModel.objects.filter(model_id="gpt-4.1").update(is_active=False)
    assert "openai/gpt-4.1" not in [m["id"] for m in member_client.get(MODELS).json()["results"]]
    assert_error(member_client.get(f"{MODELS}openai/gpt-4.1/"), 404, "not_found")
    assert operator_client.get(f"{MODELS}openai/gpt-4.1/").status_code == 200


def test_tenants_cannot_write_catalog(owner_client, key_client, small_catalog):
    assert_error(owner_client.post(PROVIDERS, GROQ, format="json"), 403, "permission_denied")
    assert_error(
        key_client("read", "manage").patch(
            f"{MODELS}openai/gpt-4.1/", {"is_active": False}, format="json"
        ),
        403,
        "permission_denied",
    )
    assert not Provider.objects.filter(slug="groq").exists()
    assert LLMModel.objects.get(model_id="gpt-4.1").is_active


def test_operator_writes_catalog(operator_client, small_catalog):
    post_groq(operator_client)
    model = {
        "provider": "groq",
        "model_id": "llama-3.3-70b-versatile",
        "context_window": 131072,
        "max_output_tokens": 32768,
        "input_price_per_1m": "0.59",
        "output_price_per_1m": "0.79",
        "capabilities": ["tools"],
    }
    response = operator_client.post(MODELS, model, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["id"] == "groq/llama-3.3-70b-versatile"
    assert response["Location"].endswith("/api/v1/models/groq/llama-3.3-70b-versatile/")
    assert_error(operator_client.post(MODELS, model, format="json"), 400, "invalid_request")
    response = operator_client.patch(
        f"{MODELS}groq/llama-3.3-70b-versatile/", {"output_price_per_1m": "0.80"}, format="json"
    )
    assert response.json()["output_price_per_1m"] == "0.80"
    assert operator_client.delete(f"{MODELS}groq/llama-3.3-70b-versatile/").status_code == 204
    assert operator_client.delete(f"{PROVIDERS}groq/").status_code == 204


def test_negative_price_rejected(operator_client, small_catalog):
    response = operator_client.patch(
        f"{MODELS}openai/gpt-4.1/", {"input_price_per_1m": "-1"}, format="json"
    )
    assert "input_price_per_1m" in assert_error(response, 400, "invalid_request")["fields"]
