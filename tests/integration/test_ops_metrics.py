"""Metrics, the structured log line and provider health from real traffic through the ASGI app
(one process; tests/integration/test_metrics_two_processes.py sums two): each fact counted
once where it is known, labels bounded, nothing of a prompt or a secret in a log line."""

import json
import logging
import time

import pytest

from core.log_format import JsonFormatter
from core.metrics import REGISTRY, metrics_flush
from core.redis import get_redis
from core.upstream_health import upstream_health_reset_local
from tests.integration.conftest import MESSAGES, PLATFORM_KEYS, cost
from tests.support.mock_upstreams import Ok, ServerError

MODEL = "openai/gpt-4o-mini"
HEALTH = "/api/v1/providers/health/"


def value(name: str, **labels: str) -> float:
    metrics_flush()  # what this process tallied, as a scrape would see it
    return REGISTRY.get_sample_value(name, labels) or 0.0


def served(**labels: str) -> dict[str, str]:
    return {"tenant": "acme", "model": MODEL, "provider": "openai", "status": "200"} | labels


class Delta:
    """Metric values now, to compare with after the traffic (counters only grow)."""

    def __init__(self, *series: tuple[str, dict]) -> None:
        self.series = series
        self.before = [value(name, **labels) for name, labels in series]

    def __call__(self) -> list[float]:
        return [
            value(name, **labels) - before
            for (name, labels), before in zip(self.series, self.before, strict=True)
        ]


def test_a_served_request_is_counted_once_with_its_tokens_and_cost(gw):
    tokens = {"tenant": "acme", "model": MODEL, "provider": "openai"}
    delta = Delta(
        ("tollgate_requests_total", served(cache="miss")),
        ("tollgate_gateway_overhead_seconds_count", {}),
        ("tollgate_upstream_latency_seconds_count", {"provider": "openai", "outcome": "ok"}),
        ("tollgate_tokens_total", {**tokens, "class": "input"}),
        ("tollgate_tokens_total", {**tokens, "class": "output"}),
        ("tollgate_tokens_total", {**tokens, "class": "cached"}),
        ("tollgate_cost_usd_total", tokens),
    )
    gw.upstreams["openai"].script(Ok(input_tokens=40, output_tokens=7, cached_tokens=8))
    assert gw.post({"model": "auto", "messages": MESSAGES}).status_code == 200
    *counts, spent = delta()
    assert counts == [1, 1, 1, 40, 7, 8]
    assert spent == pytest.approx(float(cost(MODEL, 40, 7, cached=8)))


def test_labels_stay_bounded(gw):
    unknown = served(model="other", provider="none", status="400", cache="miss")
    anonymous = {"tenant": "none", "model": "other", "provider": "none", "status": "401"}
    delta = Delta(
        ("tollgate_requests_total", unknown),
        ("tollgate_requests_total", {**anonymous, "cache": "miss"}),
    )
    for n in range(3):  # three different made-up models: one label value
        response = gw.post({"model": f"made-up/model-{n}", "messages": MESSAGES})
        assert response.status_code == 400
    assert gw.post({"model": "auto", "messages": MESSAGES}, secret="tg_" + "x" * 40).status_code
    assert delta() == [3, 1]
    exposed = {
        sample.labels.get("model")
        for family in REGISTRY.collect()
        for sample in family.samples
        if "model" in sample.labels
    }
    assert not any(m.startswith("made-up") for m in exposed)


def test_fallbacks_and_upstream_errors_are_counted_by_kind(gw):
    delta = Delta(
        ("tollgate_upstream_errors_total", {"provider": "openai", "kind": "server"}),
        ("tollgate_fallbacks_total", {"from_provider": "openai", "to_provider": "anthropic"}),
        (
            "tollgate_requests_total",
            served(provider="anthropic", model="anthropic/claude-haiku-4-5", cache="miss"),
        ),
    )
    gw.upstreams["openai"].script(ServerError(500), ServerError(503))  # the try and its retry
    response = gw.post({"model": "auto", "messages": MESSAGES})
    assert response.status_code == 200
    assert response.headers["x-tollgate-provider"] == "anthropic"
    assert delta() == [2, 1, 1]


def test_a_cache_hit_is_labelled_hit(gw):
    gw.set_config(cache_ttl_seconds=300)
    hit = served(cache="hit")
    delta = Delta(
        ("tollgate_requests_total", hit), ("tollgate_requests_total", served(cache="miss"))
    )
    body = {"model": "auto", "messages": [{"role": "user", "content": "cache me"}]}
    assert gw.post(body).headers["x-tollgate-cache"] == "miss"
    assert gw.post(body).headers["x-tollgate-cache"] == "hit"
    assert delta() == [1, 1]


def test_the_request_log_line_is_one_json_object_without_prompt_or_secret(gw, caplog):
    caplog.set_level(logging.INFO, logger="tollgate.gateway")
    prompt = "my very private prompt about sk-live-abcdef0123456789"
    gw.upstreams["openai"].script(ServerError(500), Ok(content="a private completion"))
    response = gw.post({"model": "auto", "messages": [{"role": "user", "content": prompt}]})
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "tollgate.gateway"]
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["event"] == "request" and data["level"] == "INFO"
    assert {k: data[k] for k in ("tenant", "model", "provider", "status", "attempts", "cache")} == {
        "tenant": "acme",
        "model": MODEL,
        "provider": "openai",
        "status": 200,
        "attempts": 2,
        "cache": "miss",
    }
    assert data["request_id"] == response.headers["x-tollgate-request-id"]
    assert isinstance(data["latency_ms"], int) and data["time"].endswith("+00:00")
    plain = record.getMessage()
    for text in (line, plain):
        assert "private prompt" not in text and "private completion" not in text
        for secret in (*PLATFORM_KEYS.values(), gw.secret, "sk-live-abcdef0123456789"):
            assert secret not in text


def test_a_model_name_holding_a_secret_is_redacted_in_both_formats(gw, caplog):
    caplog.set_level(logging.INFO, logger="tollgate.gateway")
    secret = "sk-proj-0123456789abcdefABCDEF"
    gw.post({"model": f"gpt {secret}", "messages": MESSAGES})
    [record] = [r for r in caplog.records if r.name == "tollgate.gateway"]
    assert secret not in JsonFormatter().format(record)
    assert secret not in logging.Formatter("%(message)s").format(record)


@pytest.fixture
def clean_health():
    upstream_health_reset_local()
    client = get_redis()
    if client is not None:
        client.flushdb()
    yield
    upstream_health_reset_local()


def test_provider_health_after_scripted_upstream_errors(gw, clean_health, settings):
    from rest_framework.test import APIClient

    from tenants.services import api_key_create

    settings.TOLLGATE_BREAKER_THRESHOLD = 3
    settings.TOLLGATE_MAX_RETRIES = 0  # each failure falls back at once
    _, read_secret = api_key_create(tenant=gw.tenant, scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_secret}")
    # Requests 1-3: openai fails (the third failure in a row opens its breaker), anthropic
    # answers; request 4: openai is skipped, anthropic answers.
    gw.upstreams["openai"].script(ServerError(500), ServerError(502), ServerError(503))
    for _ in range(4):
        assert gw.post({"model": "auto", "messages": MESSAGES}).status_code == 200
    deadline = time.monotonic() + 10
    while True:  # each process writes its tally out within about a second
        rows = {r["provider"]: r for r in client.get(HEALTH).json()["results"]}
        if rows["anthropic"]["calls"] >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    openai, anthropic = rows["openai"], rows["anthropic"]
    assert (openai["calls"], openai["errors"], openai["error_rate"]) == (3, 3, 1.0)
    assert openai["p50_latency_ms"] is None and openai["breaker"] == "open"
    assert (anthropic["calls"], anthropic["errors"], anthropic["error_rate"]) == (4, 0, 0.0)
    assert anthropic["p50_latency_ms"] is not None and anthropic["breaker"] == "closed"
    assert rows["google"]["calls"] == 0
