"""Two gateway processes sharing one PROMETHEUS_MULTIPROC_DIR, as bin/serve and docker-compose
run them: after known traffic, a scrape of either shows the exact sums of both (requests and
tokens), /metrics is 404 without the right token, and each process wrote one JSON log line per
request with its fields and nothing of the prompt or a key.

Runs on this test's database (SQLite file or PostgreSQL) and, when REDIS_URL is set, on Redis.
"""

import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import PLATFORM_KEYS
from tests.integration.gateway_processes import gateway_env, gateway_processes

pytestmark = pytest.mark.slow

TOKEN = "scrape-token-0123456789abcdef"
PROMPT = "Tell nobody: the launch code is 0000"
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
SERVED = {
    "tenant": "acme",
    "model": "openai/gpt-4o-mini",
    "provider": "openai",
    "status": "200",
    "cache": "miss",
}


@pytest.fixture
def two_gateways(gw, tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = gateway_env(openai_base_url=gw.upstreams["openai"].base_url)
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(shared),
        TOLLGATE_METRICS_TOKEN=TOKEN,
        TOLLGATE_LOG_FORMAT="json",
    )
    with gateway_processes(env=env, log_dir=tmp_path) as urls:
        yield urls, tmp_path


def _scrape(url: str, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{url}/metrics", headers=headers, timeout=30)


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _settled(url: str) -> dict:
    """A scrape once every process wrote its tally out (each does within about a second)."""
    deadline = time.monotonic() + 10
    while True:
        response = _scrape(url)
        assert response.status_code == 200
        samples = _samples(response.text)
        if _value(samples, "tollgate_gateway_overhead_seconds_count") >= 6:
            return samples
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)


def test_a_scrape_of_either_process_sums_both(gw, two_gateways):
    (first, second), log_dir = two_gateways
    headers = {"Authorization": f"Bearer {gw.secret}"}
    for url, count in ((first, 3), (second, 2)):
        for _ in range(count):
            response = httpx.post(f"{url}/v1/chat/completions", json=BODY, headers=headers)
            assert response.status_code == 200, response.text
    bad = httpx.post(
        f"{second}/v1/chat/completions",
        json=BODY,
        headers={"Authorization": "Bearer tg_" + "0" * 40},
    )
    assert bad.status_code == 401
    assert len(gw.upstreams["openai"].requests) == 5

    for url in (first, second):
        samples = _settled(url)
        assert _value(samples, "tollgate_requests_total", **SERVED) == 5
        tokens = {k: SERVED[k] for k in ("tenant", "model", "provider")}
        assert _value(samples, "tollgate_tokens_total", **tokens, **{"class": "input"}) == 60
        assert _value(samples, "tollgate_tokens_total", **tokens, **{"class": "output"}) == 25
        anonymous = {"tenant": "none", "model": "other", "provider": "none", "status": "401"}
        assert _value(samples, "tollgate_requests_total", **anonymous, cache="miss") == 1
        assert _value(samples, "tollgate_gateway_overhead_seconds_count") == 6
        ok = {"provider": "openai", "outcome": "ok"}
        assert _value(samples, "tollgate_upstream_latency_seconds_count", **ok) == 5
    counter_files = list((log_dir / "prometheus").glob("counter_*.db"))
    assert len(counter_files) == 2  # one per process, named host-pid

    for token in (None, "wrong-token", TOKEN + "x", TOKEN[:-1]):
        assert _scrape(first, token).status_code == 404

    lines = []
    for index in (0, 1):
        text = (log_dir / f"gateway-{index}.log").read_text()
        lines += [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert PROMPT not in text and "launch code" not in text
        for secret in (*PLATFORM_KEYS.values(), gw.secret, TOKEN):
            assert secret not in text
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == 6
    assert {r["status"] for r in requests} == {200, 401}
    for line in requests:
        assert set(line) >= {
            "time",
            "level",
            "logger",
            "request_id",
            "tenant",
            "model",
            "provider",
            "status",
            "latency_ms",
            "attempts",
            "cache",
        }
    assert len({r["request_id"] for r in requests}) == 6
