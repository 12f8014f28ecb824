"""CPU cost of what one request records for operations: the calls the metering step and the
attempt loop make (requests, overhead, tokens by class, cost, upstream latency, provider health),
with recording on and off, and what the writer threads spend per second moving the tallies into
the multiprocess metric files and the shared health buckets. Complements the `tollgate` vs
`tollgate_nometrics` targets of bench/run.sh, whose requests/s on a busy machine move by more
than the few microseconds measured here.

Usage: .venv/bin/python bench/metrics_overhead.py
Runs in multiprocess mode (a temporary PROMETHEUS_MULTIPROC_DIR) on the embedded default (a
temporary shared-state file); prints `METRICS_OVERHEAD` lines: median CPU microseconds per
request (thread time: a busy machine distorts it less than wall-clock figures).
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = tempfile.mkdtemp(prefix="tg-metrics-bench-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = SCRATCH
os.environ["TOLLGATE_SHARED_STATE_FILE"] = os.path.join(SCRATCH, "shared.sqlite3")
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

from core import metrics  # noqa: E402
from core.upstream_health import upstream_health_flush, upstream_health_observe  # noqa: E402

REQUESTS = 20_000
ROUNDS = 7
TENANTS = [f"tenant-{i}" for i in range(50)]
MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"]


def one_request(i: int) -> None:
    """What one plain, served request records (gateway/services/metering.py, attempts.py)."""
    tenant, model = TENANTS[i % len(TENANTS)], MODELS[i % len(MODELS)]
    provider = model.split("/", 1)[0]
    metrics.upstream_observe(provider=provider, seconds=0.2)
    upstream_health_observe(provider=provider, credential="platform", ok=True, latency_ms=200)
    metrics.usage_observe(
        tenant=tenant,
        model=model,
        provider=provider,
        tokens={"input": 1200, "output": 300, "cached": 0, "cache_write": 0, "reasoning": 0},
        cost=0.00036,
    )
    metrics.request_observe(
        tenant=tenant, model=model, provider=provider, status=200, cache="miss", overhead=0.0015
    )


def per_request_us() -> float:
    samples = []
    for _ in range(ROUNDS):
        started = time.thread_time()
        for i in range(REQUESTS):
            one_request(i)
        samples.append((time.thread_time() - started) / REQUESTS * 1e6)
    return statistics.median(samples)


def flush_ms() -> float:
    """One second's tallies of a busy worker (1000 requests) written out."""
    samples = []
    for _ in range(ROUNDS):
        for i in range(1000):
            one_request(i)
        started = time.thread_time()
        metrics.metrics_flush()
        upstream_health_flush()
        samples.append((time.thread_time() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    from django.conf import settings

    on = per_request_us()
    flush = flush_ms()
    settings.TOLLGATE_METRICS_ENABLED = False
    metrics.metrics_enabled_reset()
    off_metrics = per_request_us()  # provider health is recorded either way
    print(f"METRICS_OVERHEAD recording_on_us_per_request={on:.2f}")
    print(f"METRICS_OVERHEAD recording_off_us_per_request={off_metrics:.2f}")
    print(f"METRICS_OVERHEAD writer_threads_ms_per_1000_requests={flush:.2f}")


if __name__ == "__main__":
    main()
