"""Usage ingestion: CPU and wall time per event of `usage_events_drain` (the Celery task's work),
stream -> UsageEvent rows, through the real service. Needs PostgreSQL and Redis:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tg_ingest REDIS_URL=redis://127.0.0.1:6379/12 \
        .venv/bin/python bench/usage_ingest.py --events 20000 --rounds 3

Each round XADDs `--events` entries shaped as the gateway writes them (one tenant, key and
config) and drains them; the figures are per event, the best of the rounds (process CPU time
of this process; PostgreSQL's own work shows in the wall time only). The Redis database is
flushed first, the bench tenant's events deleted at the end.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault(
    "SECRET_KEY", "bench-usage-ingest-" + base64.b64encode(os.urandom(48)).decode()
)
os.environ.setdefault("TOLLGATE_ENCRYPTION_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())

import django  # noqa: E402

django.setup()

import orjson  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from billing.models import UsageEvent  # noqa: E402
from billing.services import usage  # noqa: E402
from llm.models import RoutingConfig  # noqa: E402
from tenants.models import Tenant, TenantApiKey  # noqa: E402
from tenants.services import api_key_create  # noqa: E402


def _fixtures() -> tuple[Tenant, int, int]:
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench-ingest", defaults={"name": "Bench ingest", "markup_pct": Decimal("0")}
    )
    if not TenantApiKey.objects.filter(tenant=tenant).exists():
        api_key_create(tenant=tenant, scopes=["inference"], name="bench")
    key_id = TenantApiKey.objects.filter(tenant=tenant).values_list("pk", flat=True).first()
    config, _ = RoutingConfig.objects.get_or_create(
        tenant=tenant, name="bench", defaults={"primary_model": "openai/gpt-4o-mini"}
    )
    return tenant, key_id, config.pk


def _entry(tenant_id: int, key_id: int, config_id: int) -> bytes:
    """One stream entry as the gateway writes it for a plain success."""
    return orjson.dumps(
        {
            "request_id": uuid.uuid4().hex,
            "tenant_id": tenant_id,
            "api_key_id": key_id,
            "config_id": config_id,
            "requested_model": "auto",
            "model": "openai/gpt-4o-mini",
            "provider": "openai",
            "key_source": "platform",
            "input_tokens": 12,
            "output_tokens": 14,
            "cost_usd": "0.0000102000",
            "saved_usd": "0",
            "latency_ms": 11,
            "status": "success",
            "fallback": False,
            "attempts": [{"model": "openai/gpt-4o-mini", "status": "ok", "latency_ms": 2}],
            "route_reason": "config default: no rule matched -> primary openai/gpt-4o-mini",
            "tags": ["bench"],
            "created_at": datetime.now(UTC).isoformat(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not settings.REDIS_URL or "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        sys.exit("needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    call_command("migrate", verbosity=0)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    tenant, key_id, config_id = _fixtures()
    best_cpu = best_wall = float("inf")
    try:
        for _ in range(args.rounds):
            pipe = client.pipeline(transaction=False)
            for _ in range(args.events):
                pipe.xadd(usage.STREAM_KEY, {"e": _entry(tenant.pk, key_id, config_id)})
            pipe.execute()
            wall, cpu = time.perf_counter(), time.process_time()
            handled = usage.usage_events_drain(max_seconds=600)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert handled == args.events, (handled, args.events)
            best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
            print(f"round: {handled} events, {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        stored = UsageEvent.objects.filter(tenant=tenant).count()
        assert stored == args.events * args.rounds, stored
        print(
            f"usage ingestion: {best_cpu / args.events * 1e6:.1f} us CPU/event, "
            f"{best_wall / args.events * 1e6:.1f} us wall/event, "
            f"{args.events / best_wall:,.0f} events/s (best of {args.rounds} x {args.events})"
        )
    finally:
        UsageEvent.objects.filter(tenant=tenant).delete()


if __name__ == "__main__":
    main()
