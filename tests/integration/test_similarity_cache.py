"""The similarity cache end to end: the real ASGI app, the openai SDK, the mock OpenAI upstream
answering embeddings with vectors each test chooses per text. A paraphrase above the threshold
is served from the cache, one below it is not, another tenant's identical prompt never is; the
prompt's embedding is a real upstream call with its own priced usage event; tools and
temperature skip it; the bound and the TTL hold; a stream is replayed and can fill it."""

import time
from decimal import Decimal

import httpx
import pytest

from tests.integration.conftest import settle_events, wait_events
from tests.support.mock_upstreams import Ok

EMBEDDING = "openai/text-embedding-3-small"
EMBEDDING_PRICE = Decimal("0.02")
CHAT_PRICE_IN, CHAT_PRICE_OUT = Decimal("0.15"), Decimal("0.60")  # gpt-4o-mini (conftest)
FRANCE = "What is the capital of France?"
PARAPHRASE = "Tell me the capital city of France"  # cosine 0.98 with FRANCE
SPAIN = "What is the capital of Spain?"  # cosine 0.80 with FRANCE
VECTORS = {
    FRANCE: [1.0, 0.0, 0.0, 0.0],
    PARAPHRASE: [0.98, 0.198997, 0.0, 0.0],
    SPAIN: [0.8, 0.6, 0.0, 0.0],
}


@pytest.fixture
def sim(gw):
    from gateway.services.similarity_indexes import similarity_indexes_clear
    from llm.models import LLMModel, Provider

    LLMModel.objects.create(
        provider=Provider.objects.get(slug="openai"),
        model_id="text-embedding-3-small",
        kind="embedding",
        context_window=8191,
        max_output_tokens=0,
        input_price_per_1m=EMBEDDING_PRICE,
        output_price_per_1m=Decimal(0),
        capabilities=["dimensions"],
    )
    gw.set_config(similarity_cache={"enabled": True, "embedding_model": EMBEDDING})
    gw.upstreams["openai"].vectors.update(VECTORS)
    similarity_indexes_clear()
    yield gw
    similarity_indexes_clear()


def _ask(gw, text: str, *, secret: str | None = None, **fields) -> httpx.Response:
    body = {"model": "auto", "temperature": 0, "messages": [{"role": "user", "content": text}]}
    body.update(fields)
    response = gw.post(body, secret=secret)
    assert response.status_code == 200, response.text
    return response


def _calls(upstream, path: str) -> list:
    return [r for r in upstream.requests if r.path == path]


def _wait_stored(count: int) -> None:
    from gateway.models import SemanticCacheEntry

    deadline = time.monotonic() + 5
    while SemanticCacheEntry.objects.count() < count:
        assert time.monotonic() < deadline, "the answer was never stored"
        time.sleep(0.02)


def _wait_answer(content: str) -> None:
    """Until an answer with this content is stored (the store runs after the response)."""
    from gateway.models import SemanticCacheEntry

    stored = SemanticCacheEntry.objects.filter(answer__body__choices__0__message__content=content)
    deadline = time.monotonic() + 5
    while not stored.exists():
        assert time.monotonic() < deadline, f"{content!r} was never stored"
        time.sleep(0.02)


def _fill(gw, text: str = FRANCE, content: str = "Paris.", stored: int = 1) -> None:
    gw.upstreams["openai"].script(
        Ok(input_tokens=7), Ok(content=content, input_tokens=20, output_tokens=3)
    )
    assert _ask(gw, text).headers["x-tollgate-cache"] == "miss"
    _wait_stored(stored)


def test_a_paraphrase_above_the_threshold_is_served_from_the_cache(sim):
    openai = sim.upstreams["openai"]
    _fill(sim)
    openai.script(Ok(input_tokens=9))
    raw = sim.client().chat.completions.with_raw_response.create(
        model="auto", temperature=0, messages=[{"role": "user", "content": PARAPHRASE}]
    )
    assert raw.headers["x-tollgate-cache"] == "hit"
    assert raw.parse().choices[0].message.content == "Paris."
    assert len(_calls(openai, "/v1/chat/completions")) == 1  # only the first request's
    embedded = [r.json["input"] for r in _calls(openai, "/v1/embeddings")]
    assert embedded == [[FRANCE], [PARAPHRASE]]

    events = {e.request_id: e for e in settle_events(4)}
    hit = next(e for e in events.values() if e.status == "cache_hit")
    first = next(e for e in events.values() if e.status == "success" and e.model != EMBEDDING)
    assert first.cost_usd == (20 * CHAT_PRICE_IN + 3 * CHAT_PRICE_OUT) / Decimal(1_000_000)
    assert hit.saved_usd == first.cost_usd and hit.cost_usd == 0
    assert hit.model == "openai/gpt-4o-mini"
    embedding_events = [e for e in events.values() if e.model == EMBEDDING]
    assert sorted(e.input_tokens for e in embedding_events) == [7, 9]
    for event in embedding_events:  # its own event, priced, under the same key and config
        assert event.status == "success"
        assert event.cost_usd == event.input_tokens * EMBEDDING_PRICE / Decimal(1_000_000)
        assert event.request_id.removesuffix("-sim") in events
        assert (event.api_key_id, event.config_id) == (sim.key.pk, sim.config.pk)
        assert event.tenant_id == sim.tenant.pk


def test_a_prompt_below_the_threshold_is_not_served(sim):
    openai = sim.upstreams["openai"]
    _fill(sim)
    assert _ask(sim, PARAPHRASE).headers["x-tollgate-cache"] == "hit"  # the index is live
    openai.script(Ok(), Ok(content="Madrid."))
    response = _ask(sim, SPAIN)
    assert response.headers["x-tollgate-cache"] == "miss"
    assert response.json()["choices"][0]["message"]["content"] == "Madrid."
    assert len(_calls(openai, "/v1/chat/completions")) == 2
    _wait_answer("Madrid.")


def test_a_lower_threshold_serves_the_farther_prompt(sim):
    sim.set_config(
        similarity_cache={"enabled": True, "embedding_model": EMBEDDING, "threshold": 0.75}
    )
    _fill(sim)
    assert _ask(sim, SPAIN).headers["x-tollgate-cache"] == "hit"


def test_another_tenants_identical_prompt_is_never_served(sim):
    from llm.models import RoutingConfig
    from tenants.services import api_key_create, tenant_create

    _fill(sim)
    other = tenant_create(slug="globex", name="Globex")
    _key, secret = api_key_create(tenant=other, scopes=["inference"])
    RoutingConfig.objects.create(
        tenant=other,
        name="default",
        is_default=True,
        primary_model="openai/gpt-4o-mini",
        fallback_models=["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"],
        similarity_cache={"enabled": True, "embedding_model": EMBEDDING},
    )
    sim.upstreams["openai"].script(Ok(), Ok(content="Madrid."))
    _ask(sim, SPAIN, secret=secret)
    _wait_stored(2)
    assert _ask(sim, SPAIN, secret=secret).headers["x-tollgate-cache"] == "hit"  # theirs is live
    sim.upstreams["openai"].script(Ok(), Ok(content="Their own answer."))
    response = _ask(sim, FRANCE, secret=secret)
    assert response.headers["x-tollgate-cache"] == "miss"
    assert response.json()["choices"][0]["message"]["content"] == "Their own answer."
    _wait_answer("Their own answer.")


TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {}}}]


@pytest.mark.parametrize(
    "fields",
    [
        {"temperature": 0.7},
        {},  # no temperature: the provider's default is not 0
        {"temperature": 0, "tools": TOOLS},
    ],
)
def test_tools_and_temperature_skip_the_cache_without_an_embedding(sim, fields):
    _fill(sim)
    request = {"model": "auto", "messages": [{"role": "user", "content": FRANCE}], **fields}
    response = sim.post(request)
    assert response.status_code == 200, response.text
    assert response.headers["x-tollgate-cache"] == "miss"
    assert len(_calls(sim.upstreams["openai"], "/v1/embeddings")) == 1  # the fill's only


def test_the_config_may_allow_temperature_and_tools(sim):
    sim.set_config(
        similarity_cache={
            "enabled": True,
            "embedding_model": EMBEDDING,
            "allow_temperature": True,
            "allow_tools": True,
        }
    )
    sim.upstreams["openai"].script(Ok(), Ok(content="Paris."))
    _ask(sim, FRANCE, temperature=0.7)
    _wait_stored(1)
    assert _ask(sim, PARAPHRASE, temperature=0.7).headers["x-tollgate-cache"] == "hit"
    # other parameters are another scope: no hit across temperatures
    sim.upstreams["openai"].script(Ok(), Ok(content="Paris at 0.2."))
    assert _ask(sim, PARAPHRASE, temperature=0.2).headers["x-tollgate-cache"] == "miss"
    _wait_answer("Paris at 0.2.")


def test_the_bound_drops_the_oldest_entry(sim):
    from gateway.models import SemanticCacheEntry

    sim.set_config(
        similarity_cache={"enabled": True, "embedding_model": EMBEDDING, "max_entries": 1}
    )
    _fill(sim, FRANCE)
    assert _ask(sim, PARAPHRASE).headers["x-tollgate-cache"] == "hit"
    sim.upstreams["openai"].vectors["Something else entirely"] = [0.0, 0.0, 1.0, 0.0]
    sim.upstreams["openai"].script(Ok(), Ok(content="Else."))
    _ask(sim, "Something else entirely")
    _wait_answer("Else.")
    assert SemanticCacheEntry.objects.count() == 1
    sim.upstreams["openai"].script(Ok(), Ok(content="Paris again."))
    assert _ask(sim, PARAPHRASE).headers["x-tollgate-cache"] == "miss"
    _wait_answer("Paris again.")


def test_an_entry_expires_after_its_ttl(sim):
    sim.set_config(
        similarity_cache={"enabled": True, "embedding_model": EMBEDDING, "ttl_seconds": 1}
    )
    _fill(sim)
    assert _ask(sim, PARAPHRASE).headers["x-tollgate-cache"] == "hit"
    time.sleep(1.1)
    sim.upstreams["openai"].script(Ok(), Ok(content="Paris, fresh."))
    assert _ask(sim, PARAPHRASE).headers["x-tollgate-cache"] == "miss"
    _wait_answer("Paris, fresh.")


def test_a_stream_fills_the_cache_and_a_hit_streams_back(sim):
    sim.upstreams["openai"].script(Ok(), Ok(content="Paris, of course."))
    stream = sim.client().chat.completions.create(
        model="auto",
        temperature=0,
        stream=True,
        messages=[{"role": "user", "content": FRANCE}],
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    _wait_stored(1)
    raw = sim.client().chat.completions.with_raw_response.create(
        model="auto",
        temperature=0,
        stream=True,
        messages=[{"role": "user", "content": PARAPHRASE}],
    )
    assert raw.headers["x-tollgate-cache"] == "hit"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "Paris, of course."


def test_a_failed_embedding_is_metered_and_the_request_still_served(sim):
    from tests.support.mock_upstreams import ServerError

    sim.set_config(
        similarity_cache={"enabled": True, "embedding_model": EMBEDDING},
        params={"max_retries": 0},
    )
    sim.upstreams["openai"].script(ServerError(400), Ok(content="Paris."))
    response = _ask(sim, FRANCE)
    assert response.json()["choices"][0]["message"]["content"] == "Paris."
    events = wait_events(2)
    failed = next(e for e in events if e.request_id.endswith("-sim"))
    assert failed.status == "error" and failed.cost_usd == 0
