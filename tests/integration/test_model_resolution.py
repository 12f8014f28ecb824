"""The README's own example: `model="gpt-4o-mini"` works although Azure lists the same id; the
response headers say which provider served it. Only an id without a first party is a 400."""

from decimal import Decimal

import pytest

from tests.integration.conftest import MESSAGES


@pytest.fixture
def azure_lists_it_too(gw, mock_catalog):
    from llm.models import LLMModel, Provider

    Provider.objects.filter(slug="openai").update(first_party=True)
    azure = Provider.objects.create(
        slug="azure",
        name="Azure OpenAI",
        wire_format="openai_chat",
        base_url="https://example-resource.openai.azure.com/openai/v1",
        api_key_env="AZURE_OPENAI_API_KEY",
    )
    for provider in (azure, mock_catalog["google"]):  # a second host of one more id, no maker
        LLMModel.objects.create(
            provider=provider,
            model_id="gpt-4o-mini" if provider is azure else "shared-oss-model",
            context_window=128000,
            max_output_tokens=8192,
            input_price_per_1m=Decimal("0.15"),
            output_price_per_1m=Decimal("0.60"),
        )
    LLMModel.objects.create(
        provider=mock_catalog["anthropic"],
        model_id="shared-oss-model",
        context_window=8000,
        max_output_tokens=1000,
        input_price_per_1m=Decimal("0.10"),
        output_price_per_1m=Decimal("0.10"),
    )
    gw.set_config(fallback_models=[])  # snapshot invalidated by the save


def test_a_bare_id_that_azure_also_lists_is_served_by_its_maker(gw, azure_lists_it_too):
    response = gw.post({"model": "gpt-4o-mini", "messages": MESSAGES})
    assert response.status_code == 200, response.text
    assert response.headers["x-tollgate-provider"] == "openai"
    assert response.headers["x-tollgate-model"] == "openai/gpt-4o-mini"


def test_the_qualified_id_still_picks_the_host(gw, azure_lists_it_too):
    response = gw.post({"model": "azure/gpt-4o-mini", "messages": MESSAGES})
    assert response.headers["x-tollgate-model"] == "azure/gpt-4o-mini"


def test_an_id_only_hosts_list_is_still_ambiguous(gw, azure_lists_it_too):
    response = gw.post({"model": "shared-oss-model", "messages": MESSAGES})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "ambiguous" in message
    assert "anthropic/shared-oss-model" in message and "google/shared-oss-model" in message


def test_the_sdk_example_of_the_readme(gw, azure_lists_it_too):
    completion = gw.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content
