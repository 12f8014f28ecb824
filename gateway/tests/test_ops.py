"""The operations endpoints through the real ASGI entry point: /healthz without I/O, /readyz
with each check (and 503 when Redis goes away), /metrics only for the bearer token (404 when it
is unset, missing or wrong), and metrics recording switched off by its setting."""

import asyncio
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import metrics
from gateway.services import readiness

TOKEN = "metrics-token-0123456789"


def _get(path: str, **headers: str) -> httpx.Response:
    from config.asgi import application

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(call())


def test_healthz_answers_without_touching_the_database(db, django_assert_num_queries, settings):
    settings.ALLOWED_HOSTS = ["example.com"]  # a probe addresses the pod by IP: no Host check
    with django_assert_num_queries(0):
        response = _get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert _get("/healthz/").status_code != 200  # exact paths only; the rest is Django's


def test_readyz_reports_every_check(transactional_db, small_catalog, settings):
    response = _get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    redis = "ok" if settings.REDIS_URL else "skipped"
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "redis": redis, "migrations": "ok", "catalog": "ok"},
    }


def test_readyz_is_503_without_a_priced_model(transactional_db):
    from llm.models import LLMModel, Provider

    provider = Provider.objects.create(slug="x", name="X", base_url="https://x.example/v1")
    LLMModel.objects.create(
        provider=provider, model_id="unpriced", context_window=1000, max_output_tokens=100
    )
    response = _get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["catalog"].startswith("fail: no active priced model")
    assert body["checks"]["database"] == "ok"


def test_readyz_turns_503_when_redis_stops(
    transactional_db, small_catalog, private_redis, settings
):
    settings.REDIS_URL = private_redis.url
    assert _get("/readyz").json()["checks"]["redis"] == "ok"
    private_redis.kill()
    response = _get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"].startswith("fail: redis unreachable")
    assert checks["database"] == checks["catalog"] == "ok"
    assert str(private_redis.port) not in response.text  # a cause, never an address


def test_readyz_remembers_applied_migrations(transactional_db, small_catalog, monkeypatch):
    _get("/readyz")
    assert readiness._migrated is True
    monkeypatch.setattr(readiness, "MigrationExecutor", None)  # not consulted again
    assert _get("/readyz").json()["checks"]["migrations"] == "ok"


def test_metrics_is_404_while_the_token_is_unset(settings):
    settings.TOLLGATE_METRICS_TOKEN = ""
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
        response = _get("/metrics", **headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_metrics_needs_the_exact_bearer_token(db, settings):
    settings.TOLLGATE_METRICS_TOKEN = TOKEN
    for headers in (
        {},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
    ):
        response = _get("/metrics", **headers)
        assert response.status_code == 404, headers  # as if there were no such endpoint
        assert TOKEN not in response.text
    response = _get("/metrics", Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"tollgate_requests", "tollgate_tokens", "tollgate_breaker_state"} <= names


def test_metrics_reports_breaker_states_as_stored(transactional_db, small_catalog, settings):
    from gateway.services.breaker import breaker_record

    settings.TOLLGATE_METRICS_TOKEN = TOKEN
    settings.TOLLGATE_BREAKER_THRESHOLD = 1
    asyncio.run(breaker_record(provider="anthropic", credential="platform", ok=False))
    text = _get("/metrics", Authorization=f"Bearer {TOKEN}").text
    states = {
        sample.labels["provider"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "tollgate_breaker_state"
        for sample in family.samples
    }
    assert states == {"anthropic": 2.0, "openai": 0.0}


def _requests(**labels: str) -> float:
    metrics.metrics_flush()  # what this process tallied, as a scrape would see it
    return metrics.REGISTRY.get_sample_value("tollgate_requests_total", labels) or 0.0


LABELS = {"tenant": "t", "model": "m", "provider": "p", "status": "200", "cache": "miss"}


@pytest.fixture
def metrics_setting(settings):
    """Change TOLLGATE_METRICS_ENABLED (read once per process) for one test."""

    def switch(enabled: bool) -> None:
        settings.TOLLGATE_METRICS_ENABLED = enabled
        metrics.metrics_enabled_reset()

    yield switch
    metrics.metrics_enabled_reset()


def test_recording_is_switched_off_by_its_setting(metrics_setting):
    before = _requests(**LABELS)
    metrics_setting(False)
    metrics.request_observe(
        tenant="t", model="m", provider="p", status=200, cache="miss", overhead=0.001
    )
    assert _requests(**LABELS) == before
    metrics_setting(True)
    metrics.request_observe(
        tenant="t", model="m", provider="p", status=200, cache="miss", overhead=0.001
    )
    assert _requests(**LABELS) == before + 1


def test_the_tally_reaches_the_metrics_within_a_second_or_at_a_scrape():
    before = _requests(**LABELS)
    metrics.request_observe(
        tenant="t", model="m", provider="p", status=200, cache="miss", overhead=0.001
    )
    assert metrics.REGISTRY.get_sample_value("tollgate_requests_total", LABELS) == before
    deadline = time.monotonic() + 5  # the process's writer thread, about a second later
    while metrics.REGISTRY.get_sample_value("tollgate_requests_total", LABELS) == before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _requests(**LABELS) == before + 1


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_ops_paths_take_only_get(method):
    from config.asgi import application

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            return await client.request(method, "/healthz")

    assert asyncio.run(call()).status_code == 405


def test_a_tallied_histogram_renders_as_if_each_value_were_observed():
    from prometheus_client import CollectorRegistry, Histogram

    values = [0.0001, 0.0005, 0.0007, 0.002, 0.004, 0.3, 5.0, 0.0005]
    bounds = tuple(metrics.OVERHEAD._upper_bounds[:-1])  # the same buckets, observed one by one
    reference = Histogram("reference_seconds", "r", buckets=bounds, registry=CollectorRegistry())
    # A histogram of its own: OVERHEAD may be observed meanwhile by requests still settling.
    tallied = Histogram("tallied_seconds", "t", buckets=bounds, registry=CollectorRegistry())
    for value in values:
        reference.observe(value)
        metrics._tally(observed=(tallied, (), value))
    metrics.metrics_flush()
    assert _buckets(tallied) == _buckets(reference)


def _buckets(histogram) -> dict[str, float]:
    [family] = histogram.collect()
    return {
        sample.labels.get("le", sample.name.rsplit("_", 1)[1]): sample.value
        for sample in family.samples
    }
