"""Gauges read when /metrics is scraped, from where the truth is kept rather than from what
one process happens to have seen: each active provider's breaker (platform key), the usage
stream's backlog (Redis), and the Celery queue's depth (Redis list or the filesystem
transport's folder). A part that cannot be read is left out of that scrape, with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import connection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from billing.services.usage import GROUP, STREAM_KEY
from core.breaker_state import STATE_VALUES, breaker_states
from core.db import connection_refresh
from core.redis import get_redis
from llm.api.selectors import provider_list

logger = logging.getLogger(__name__)

CELERY_QUEUE = "celery"
_KOMBU_PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport: one list per priority step
_KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)


def _breakers() -> GaugeMetricFamily:
    connection_refresh()
    try:
        slugs = list(provider_list().values_list("slug", flat=True))
    finally:
        connection.close()  # a scrape thread holds no connection between scrapes
    states = breaker_states(breakers=[(slug, "platform") for slug in slugs])
    family = GaugeMetricFamily(
        "tollgate_breaker_state",
        "Circuit breaker of each provider's platform key: 0 closed, 1 half-open, 2 open.",
        labels=["provider"],
    )
    for (slug, _), state in states.items():
        family.add_metric([slug], STATE_VALUES[state])
    return family


def _usage_stream(client) -> list[GaugeMetricFamily]:
    length = client.xlen(STREAM_KEY)
    try:
        pending = int(client.xpending(STREAM_KEY, GROUP)["pending"])
    except Exception:  # no consumer group yet: nothing was ever read, nothing is pending
        pending = 0
    return [
        GaugeMetricFamily(
            "tollgate_usage_stream_length",
            "Usage events in the Redis stream not yet ingested and trimmed.",
            value=length,
        ),
        GaugeMetricFamily(
            "tollgate_usage_stream_pending",
            "Usage events delivered to an ingesting worker and not yet acknowledged.",
            value=pending,
        ),
    ]


def _celery_depth(client) -> int:
    if client is not None and settings.CELERY_BROKER_URL.startswith(("redis", "rediss")):
        names = [
            CELERY_QUEUE if step == 0 else f"{CELERY_QUEUE}{_KOMBU_PRIORITY_SEP}{step}"
            for step in _KOMBU_PRIORITY_STEPS
        ]
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(name)
        return sum(pipe.execute())
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""))
    if not folder.is_dir():
        return 0
    return sum(1 for _ in folder.glob(f"*.{CELERY_QUEUE}.msg"))


class ScrapeGauges(Collector):
    def collect(self):
        client = get_redis()
        parts = [("breakers", _breakers), ("celery", lambda: self._queue(client))]
        if client is not None:
            parts.append(("usage stream", lambda: _usage_stream(client)))
        for name, read in parts:
            try:
                found = read()
            except Exception as exc:
                logger.warning("metrics: %s not read (%s)", name, type(exc).__name__)
                continue
            yield from found if isinstance(found, list) else [found]

    @staticmethod
    def _queue(client) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "tollgate_celery_queue_length", "Celery tasks waiting in the queue.", labels=["queue"]
        )
        family.add_metric([CELERY_QUEUE], _celery_depth(client))
        return family
