"""Prometheus metrics: their definitions, the small recording helpers the request path and the
tasks call, and the text that GET /metrics renders.

Every web process and the Celery worker count into files of one shared directory
(`PROMETHEUS_MULTIPROC_DIR`, prometheus-client's multiprocess mode), so one scrape of any web
process shows the sum of all of them. Without the variable (tests, a one-off shell) the values
live in this process only. The directory must be emptied when the whole system starts
(bin/serve and docker-compose's `migrate` step do): counters of processes long gone would
otherwise stay in the sums forever.

File names carry `host-pid`, not the bare pid: the web and worker containers of
docker-compose share the directory and each numbers its processes from 1. No gauge depends on
which processes are alive (modes `max` and `mostrecent`), so a process that exits needs no
clean-up (prometheus-client's mark_process_dead) in uvicorn or Celery.

Labels are bounded: tenant slugs and catalog model ids (an unknown model is `other`), provider
slugs, HTTP statuses and fixed words; never a request id, an end user or free text. Recording
is off with TOLLGATE_METRICS_ENABLED=false (bench/README.md, "Metrics on and off").
"""

from __future__ import annotations

import bisect
import os
import socket
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from core.periodic_flush import PeriodicFlush

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # classic names only: every Prometheus reads it

# A process's name in the metrics: the pid, and in multiprocess mode the host too (several
# hosts may share the directory's volume).
_HOST = (socket.gethostname().replace("_", "-") or "host") if MULTIPROC_DIR else ""


def process_identity() -> str:
    return f"{_HOST}-{os.getpid()}" if _HOST else str(os.getpid())


if MULTIPROC_DIR:
    os.makedirs(MULTIPROC_DIR, exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identity)


disable_created_metrics()  # `_created` series: absent in multiprocess mode, so never shown

REGISTRY = CollectorRegistry(auto_describe=True)  # this process's metrics (no multiprocess dir)

REQUESTS = Counter(
    "tollgate_requests",
    "Gateway requests answered, by tenant, model, provider, HTTP status and cache result.",
    ["tenant", "model", "provider", "status", "cache"],
    registry=REGISTRY,
)
TOKENS = Counter(
    "tollgate_tokens",
    "Tokens metered, by class (input, output, cached, cache_write, reasoning).",
    ["tenant", "model", "provider", "class"],
    registry=REGISTRY,
)
COST = Counter(
    "tollgate_cost_usd",
    "Cost metered in USD (the usage events hold the exact Decimal amounts).",
    ["tenant", "model", "provider"],
    registry=REGISTRY,
)
OVERHEAD = Histogram(
    "tollgate_gateway_overhead_seconds",
    "Time a plain request spent in the gateway, outside upstream calls.",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
UPSTREAM_LATENCY = Histogram(
    "tollgate_upstream_latency_seconds",
    "Upstream call time (a stream: until its first content), by provider and outcome.",
    ["provider", "outcome"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "tollgate_upstream_errors",
    "Failed upstream calls, by provider and kind (server, timeout, rate_limit, ...).",
    ["provider", "kind"],
    registry=REGISTRY,
)
FALLBACKS = Counter(
    "tollgate_fallbacks",
    "Requests served by a later candidate than the first, by first and serving provider.",
    ["from_provider", "to_provider"],
    registry=REGISTRY,
)
BUDGET_USED = Gauge(
    "tollgate_budget_used_percent",
    "Spend of each active budget in its current period, percent of its limit.",
    ["tenant", "budget", "scope", "period"],
    multiprocess_mode="mostrecent",  # the latest evaluation wins; a new period starts low
    registry=REGISTRY,
)
TASK_LAST_SUCCESS = Gauge(
    "tollgate_task_last_success_timestamp_seconds",
    "Unix time of the last successful run of a periodic task.",
    ["task"],
    multiprocess_mode="max",  # a time only moves forward, whichever worker process ran it
    registry=REGISTRY,
)


_enabled: list[bool] = []  # the setting, read once: a Django settings lookup costs ~1 us


def metrics_enabled() -> bool:
    if not _enabled:
        _enabled.append(bool(settings.TOLLGATE_METRICS_ENABLED))
    return _enabled[0]


def metrics_enabled_reset() -> None:
    """Read TOLLGATE_METRICS_ENABLED again on the next call (tests that change it)."""
    _enabled.clear()


# --- the request path's tally ----------------------------------------------------------------
# An increment of a multiprocess metric costs ~2 us of CPU (a lock, a pid check, an mmap
# write); a request makes about ten. The request path adds to a dict instead, and this
# process's writer thread moves the sums into the metric files once a second
# (core/periodic_flush.py): a scrape sees another process's requests within about a second, its
# own at once (metrics_render writes out first). bench/README.md, "Metrics on and off".

FLUSH_SECONDS = 1.0
_lock = threading.Lock()
_counts: dict[tuple[Counter, tuple[str, ...]], float] = {}
_histograms: dict[tuple[Histogram, tuple[str, ...]], list[float]] = {}  # buckets..., sum


def _tally(
    counts: tuple[tuple[Counter, tuple[str, ...], float], ...] = (),
    observed: tuple[Histogram, tuple[str, ...], float] | None = None,
) -> None:
    """Add one call's counts (and at most one histogram observation) under one lock."""
    if observed is not None:
        histogram, hist_labels, value = observed
        bounds = histogram._upper_bounds  # the buckets' upper bounds, +Inf last
        index = bisect.bisect_left(bounds, value)  # the first bucket with value <= bound
    with _lock:
        first = not _counts and not _histograms
        for metric, labels, amount in counts:
            key = (metric, labels)
            _counts[key] = _counts.get(key, 0.0) + amount
        if observed is not None:
            row = _histograms.get((histogram, hist_labels))
            if row is None:
                row = _histograms[(histogram, hist_labels)] = [0.0] * (len(bounds) + 1)
            row[index] += 1
            row[-1] += value
    if first:
        _writer.wake()


def _take() -> tuple[dict, dict]:
    global _counts, _histograms
    with _lock:
        taken, _counts, _histograms = (_counts, _histograms), {}, {}
    return taken


def metrics_flush() -> None:
    """Add this process's tally to its metrics (the writer thread; at exit; before a scrape)."""
    counts, histograms = _take()
    for (metric, labels), amount in counts.items():
        (metric.labels(*labels) if labels else metric).inc(amount)
    for (metric, labels), row in histograms.items():
        child = metric.labels(*labels) if labels else metric
        for bucket, observed in zip(child._buckets, row[:-1], strict=True):  # a histogram's
            if observed:  # per-bucket values, as observe() adds them, one write per bucket
                bucket.inc(observed)
        child._sum.inc(row[-1])


_writer = PeriodicFlush(metrics_flush, interval=FLUSH_SECONDS, name="metrics")
os.register_at_fork(after_in_child=_take)  # a forked child starts empty: the parent writes its own


def request_observe(
    *, tenant: str, model: str, provider: str, status: int, cache: str, overhead: float | None
) -> None:
    if not metrics_enabled():
        return
    request = ((REQUESTS, (tenant, model, provider, str(status), cache), 1.0),)
    _tally(request, None if overhead is None else (OVERHEAD, (), max(overhead, 0.0)))


def usage_observe(
    *, tenant: str, model: str, provider: str, tokens: dict[str, int], cost: float
) -> None:
    """Token counts by class (zero counts are skipped) and the cost of one request."""
    if not metrics_enabled():
        return
    counts = tuple(
        (TOKENS, (tenant, model, provider, token_class), count)
        for token_class, count in tokens.items()
        if count
    )
    _tally((*counts, (COST, (tenant, model, provider), cost)) if cost else counts)


def upstream_observe(*, provider: str, seconds: float, error_kind: str = "") -> None:
    """One upstream call; `error_kind` when it failed."""
    if not metrics_enabled():
        return
    errors = ((UPSTREAM_ERRORS, (provider, error_kind), 1.0),) if error_kind else ()
    _tally(errors, (UPSTREAM_LATENCY, (provider, "error" if error_kind else "ok"), seconds))


def upstream_error_observe(*, provider: str, kind: str) -> None:
    """A failure known after the call returned (a stream that broke after its first byte)."""
    if metrics_enabled():
        _tally(((UPSTREAM_ERRORS, (provider, kind), 1.0),))


def fallback_observe(*, from_provider: str, to_provider: str) -> None:
    if metrics_enabled():
        _tally(((FALLBACKS, (from_provider, to_provider), 1.0),))


def task_success_mark(*, task: str) -> None:
    """A periodic task finished its work (tasks call this last)."""
    if metrics_enabled():
        TASK_LAST_SUCCESS.labels(task).set(time.time())


def budget_used_set(*, tenant: str, budget: int, scope: str, period: str, pct: float) -> None:
    if metrics_enabled():
        BUDGET_USED.labels(tenant, str(budget), scope, period).set(pct)


def metrics_render(*, extra: Iterable[Collector] = ()) -> bytes:
    """The Prometheus text of every process sharing the directory (or of this one), plus the
    `extra` collectors (values read at scrape time: breaker states, queue depths)."""
    metrics_flush()
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROC_DIR:
        MultiProcessCollector(registry, path=MULTIPROC_DIR)
    else:
        registry.register(_Local())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Local(Collector):
    """This process's metrics, as one collector of the scrape's registry."""

    def collect(self):
        return REGISTRY.collect()
