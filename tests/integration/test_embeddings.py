"""POST /v1/embeddings end to end: the official openai SDK (its base64 default and floats)
against the real ASGI app and the mock upstreams of both wire formats with embeddings
(OpenAI-compatible and Gemini), `dimensions` honoured or refused, token arrays, metering,
budgets, rate limits, idempotency, and embedding models kept out of chat routing."""

import dataclasses
import json
from decimal import Decimal

import httpx
import openai
import pytest

from tests.integration.conftest import MESSAGES, settle_events
from tests.support.mock_upstreams import Ok
from tests.support.mock_upstreams.content import embedding_vector

# qualified id: (input price per 1M, capabilities)
EMBEDDING_MODELS = {
    "openai/text-embedding-3-small": ("0.02", ["dimensions"]),
    "openai/text-embedding-ada-002": ("0.10", []),
    "google/gemini-embedding-001": ("0.15", ["dimensions"]),
}


@pytest.fixture
def emb(gw):
    from llm.models import LLMModel, Provider

    for qualified, (price, caps) in EMBEDDING_MODELS.items():
        slug, model_id = qualified.split("/", 1)
        LLMModel.objects.create(
            provider=Provider.objects.get(slug=slug),
            model_id=model_id,
            kind="embedding",
            context_window=8191,
            max_output_tokens=0,
            input_price_per_1m=Decimal(price),
            output_price_per_1m=Decimal(0),
            capabilities=caps,
        )
    return gw


def _post(gw, body, headers=None) -> httpx.Response:
    merged = {"Authorization": f"Bearer {gw.secret}", **(headers or {})}
    return httpx.post(f"{gw.url}/v1/embeddings", json=body, headers=merged, timeout=30)


def _vector(text: str, dimensions: int = 16) -> list[float]:
    return embedding_vector(json.dumps(text), dimensions)


def test_sdk_default_base64_is_decoded_to_the_upstream_floats(emb):
    emb.upstreams["openai"].script(Ok(input_tokens=1000))
    raw = emb.client().embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["alpha", "beta"]
    )
    result = raw.parse()
    assert [item.embedding for item in result.data] == [_vector("alpha"), _vector("beta")]
    assert result.model == "text-embedding-3-small"
    assert result.usage.prompt_tokens == 1000
    sent = emb.upstreams["openai"].last_request
    assert sent.path == "/v1/embeddings"
    assert sent.json["encoding_format"] == "float"  # upstream floats, base64 encoded by us
    assert raw.headers["x-tollgate-model"] == "openai/text-embedding-3-small"
    assert raw.headers["x-tollgate-provider"] == "openai"
    assert Decimal(raw.headers["x-tollgate-cost-usd"]) == Decimal("0.00002")  # 1000 * 0.02 / 1M

    [event] = settle_events(1)
    assert event.status == "success"
    assert event.model == "openai/text-embedding-3-small"
    assert (event.input_tokens, event.output_tokens) == (1000, 0)
    assert event.cost_usd == Decimal("0.00002")


def test_base64_is_little_endian_float32(emb):
    import base64
    import struct

    body = {"model": "text-embedding-3-small", "input": "alpha", "encoding_format": "base64"}
    data = _post(emb, body).json()["data"]
    packed = base64.b64decode(data[0]["embedding"])
    assert list(struct.unpack("<16f", packed)) == _vector("alpha")


def test_float_encoding_and_a_single_string(emb):
    result = emb.client().embeddings.create(
        model="openai/text-embedding-3-small", input="alpha", encoding_format="float"
    )
    assert result.data[0].embedding == _vector("alpha")
    assert result.data[0].index == 0


def test_dimensions_are_honoured_by_openai_models(emb):
    result = emb.client().embeddings.create(
        model="text-embedding-3-small", input=["alpha"], dimensions=8
    )
    assert result.data[0].embedding == _vector("alpha", 8)
    assert emb.upstreams["openai"].last_request.json["dimensions"] == 8


def test_dimensions_refused_by_a_model_that_cannot_shorten(emb):
    with pytest.raises(openai.BadRequestError) as caught:
        emb.client().embeddings.create(
            model="text-embedding-ada-002", input=["alpha"], dimensions=8
        )
    error = caught.value.body
    assert error["code"] == "unsupported_feature"
    assert error["param"] == "dimensions"
    assert "dimensions" in error["message"]
    assert emb.upstreams["openai"].requests == []


def test_gemini_single_and_batch_with_output_dimensionality(emb):
    one = emb.client().embeddings.create(model="gemini-embedding-001", input="alpha")
    assert one.data[0].embedding == _vector("alpha")
    assert emb.upstreams["google"].last_request.path.endswith(
        "/models/gemini-embedding-001:embedContent"
    )
    many = emb.client().embeddings.create(
        model="google/gemini-embedding-001", input=["alpha", "beta gamma"], dimensions=4
    )
    assert [d.embedding for d in many.data] == [_vector("alpha", 4), _vector("beta gamma", 4)]
    sent = emb.upstreams["google"].last_request
    assert sent.path.endswith(":batchEmbedContents")
    assert [r["outputDimensionality"] for r in sent.json["requests"]] == [4, 4]
    assert sent.headers["x-goog-api-key"].startswith("AIza")
    # Gemini reports no token count: the estimate (4 characters a token) is billed.
    assert many.usage.prompt_tokens == 2 + 3
    events = settle_events(2)
    assert events[-1].input_tokens == 5
    assert events[-1].cost_usd == Decimal("0.00000075")  # 5 * 0.15 / 1M


def test_token_arrays_go_to_openai_and_are_refused_by_gemini(emb):
    result = emb.client().embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], encoding_format="float"
    )
    assert len(result.data) == 2
    assert emb.upstreams["openai"].last_request.json["input"] == [[1, 2, 3], [4, 5]]
    response = _post(emb, {"model": "gemini-embedding-001", "input": [1, 2, 3]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_feature"
    assert response.json()["error"]["param"] == "input"
    assert emb.upstreams["google"].requests == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "text-embedding-3-small"}, "input"),
        ({"model": "text-embedding-3-small", "input": []}, "input"),
        ({"model": "text-embedding-3-small", "input": ["a", 1]}, "input"),
        ({"model": "text-embedding-3-small", "input": "a", "dimensions": 0}, "dimensions"),
        ({"model": "text-embedding-3-small", "input": "a", "encoding_format": "hex"}, None),
    ],
)
def test_bad_bodies_are_400_naming_the_field(emb, body, param):
    response = _post(emb, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error.get("param", "encoding_format") == (param or "encoding_format")


def test_chat_models_and_embedding_models_stay_apart(emb):
    chat_on_embeddings = _post(emb, {"model": "gpt-4o-mini", "input": "alpha"})
    assert chat_on_embeddings.status_code == 400
    assert "chat model" in chat_on_embeddings.json()["error"]["message"]
    embedding_on_chat = emb.post({"model": "text-embedding-3-small", "messages": MESSAGES})
    assert embedding_on_chat.status_code == 400
    assert emb.upstreams["openai"].requests == []
    listed = [m.id for m in emb.client().models.list().data]
    assert "openai/text-embedding-3-small" in listed
    assert "google/gemini-embedding-001" in listed


def test_idempotent_retry_replays_without_a_second_call(emb):
    body = {"model": "text-embedding-3-small", "input": "alpha"}
    headers = {"Idempotency-Key": "emb-1"}
    first, second = _post(emb, body, headers), _post(emb, body, headers)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert len(emb.upstreams["openai"].requests) == 1
    assert len(settle_events(1)) == 1


def test_strict_budget_and_rate_limit_apply(emb):
    from billing.models import Budget

    Budget.objects.create(
        tenant=emb.tenant, scope="tenant", period="daily", limit_usd=Decimal("0.000001")
    )
    long_text = "word " * 2000  # ~2500 tokens at 0.10: 0.00025 > the limit
    refused = _post(emb, {"model": "text-embedding-ada-002", "input": long_text})
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
    Budget.objects.all().delete()
    emb.key.rpm_limit = 1
    emb.key.save()
    from gateway.services import snapshots

    snapshots.snapshots_clear()
    assert _post(emb, {"model": "text-embedding-3-small", "input": "a"}).status_code == 200
    limited = _post(emb, {"model": "text-embedding-3-small", "input": "a"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"]
    assert len(emb.upstreams["openai"].requests) == 1


def test_upstream_failure_falls_into_the_contract_error(emb):
    from tests.support.mock_upstreams import ServerError

    emb.upstreams["openai"].script(ServerError(500), ServerError(500))
    response = _post(emb, {"model": "text-embedding-3-small", "input": "a"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert "text-embedding-3-small" in response.json()["error"]["message"]


def test_through_djangos_handler_too(emb, django_handler_server):
    via_django = dataclasses.replace(emb, url=django_handler_server)
    result = via_django.client().embeddings.create(model="text-embedding-3-small", input="a")
    assert result.data[0].embedding == _vector("a")
