"""Budget reserve + settle round trip on Redis: prints p50/p99 in milliseconds.

Usage: DATABASE_URL=... REDIS_URL=redis://host:6379/N .venv/bin/python bench/budget_roundtrip.py
Creates a throwaway tenant with a tenant, config and key budget (three daily and monthly counters
... six counters per request), warms the budget cache, then times N sequential round trips.
The tenant and its Redis keys are removed afterwards.

Where the scheduler puts this process and Redis matters more than the code on this machine
class: a wake-up on the other, idle core costs ~0.1 ms per hop. With a local Redis whose process
this user may re-pin, the script measures three placements in turn, restoring Redis's CPU
affinity afterwards: as the scheduler places them, both on one core (the CPU cost of the round
trip), and on different cores (that cost plus two cross-core wake-ups per round trip).
"""

import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402

from billing.models import Budget  # noqa: E402
from billing.services.budgets import budget_reserve, budget_settle  # noqa: E402
from core.redis import get_redis  # noqa: E402
from llm.models import RoutingConfig  # noqa: E402
from tenants.services import api_key_create, tenant_create  # noqa: E402

N = int(os.environ.get("BENCH_N", "5000"))


def setup():
    tenant = tenant_create(slug=f"bench-{os.getpid()}", name="Bench", timezone_name="Europe/Berlin")
    config = RoutingConfig.objects.create(tenant=tenant, name="bench", primary_model="x/y")
    key, _ = api_key_create(tenant=tenant, scopes=["inference"], name="bench")
    for period in ("daily", "monthly"):
        Budget.objects.create(tenant=tenant, period=period, limit_usd=Decimal("1000000"))
        Budget.objects.create(
            tenant=tenant, scope="config", config=config, period=period, limit_usd=Decimal(10**6)
        )
        Budget.objects.create(
            tenant=tenant, scope="key", api_key=key, period=period, limit_usd=Decimal(10**6)
        )
    return tenant, config, key


def teardown(tenant):
    from billing.models import BudgetAlert, BudgetCounter

    BudgetAlert.objects.filter(tenant=tenant).delete()
    BudgetCounter.objects.filter(tenant=tenant).delete()
    tenant.delete()


async def round_trips(tenant, config, key) -> list[float]:
    samples = []
    for n in range(N + 200):
        start = time.perf_counter()
        reservation = await budget_reserve(
            tenant_id=tenant.pk,
            api_key_id=key.pk,
            config_id=config.pk,
            worst_case_cost_usd=Decimal("0.0123"),
            worst_case_tokens=4000,
        )
        await budget_settle(
            reservation=reservation, actual_cost_usd=Decimal("0.0042"), actual_tokens=1500
        )
        if n >= 200:  # warm-up: cache load, seeding, script load
            samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples)


def redis_pid(client) -> int | None:
    """The local Redis server's pid when this user may pin it, else None."""
    host = client.connection_pool.connection_kwargs.get("host")
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    pid = int(client.info("server")["process_id"])
    try:
        os.sched_setaffinity(pid, os.sched_getaffinity(pid))
    except OSError:
        return None
    return pid


async def main():
    client = get_redis()  # set-up and clean-up; the round trips use the gateway's own client
    if client is None:
        sys.exit("Set REDIS_URL: this measures the Redis path.")
    tenant, config, key = await sync_to_async(setup)()
    server = redis_pid(client)
    cpus = sorted(os.sched_getaffinity(0))
    placements = [("as scheduled", None, None)]
    if server is not None and len(cpus) >= 2:
        placements += [("same core", cpus[0], cpus[0]), ("across cores", cpus[1], cpus[0])]
    mine, theirs = os.sched_getaffinity(0), server and os.sched_getaffinity(server)
    try:
        for name, my_cpu, redis_cpu in placements:
            if my_cpu is not None:
                os.sched_setaffinity(0, {my_cpu})
                os.sched_setaffinity(server, {redis_cpu})
            samples = await round_trips(tenant, config, key)
            p50 = statistics.median(samples)
            p99 = samples[int(len(samples) * 0.99) - 1]
            print(
                f"budget reserve+settle (6 counters, Redis, {name}): n={N} "
                f"p50={p50:.3f} ms p99={p99:.3f} ms"
            )
    finally:
        os.sched_setaffinity(0, mine)
        if server is not None:
            os.sched_setaffinity(server, theirs)
        keys = client.keys(f"tg:bud:{{t:{tenant.pk}}}*")
        if keys:
            client.delete(*keys)
        await sync_to_async(teardown)(tenant)


if __name__ == "__main__":
    import uvloop  # the loop the gateway's workers run (uvicorn --loop uvloop)

    uvloop.run(main())
