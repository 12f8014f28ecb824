"""The admin web app's pages over millions of usage events (issue 12: p95 <= 300 ms each).
Needs PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tg_scale \
        .venv/bin/python bench/console_pages.py --events 5000000

The events come from bench/billing_scale.py's generator (same tenants, models, statuses, tags,
61 days; a second run with a larger N only tops them up), the rollups are brought up to date
as the scheduled task keeps them, then each page is fetched `--requests` times through Django's
test client as the big tenant's owner (the operator dashboard as an operator) and its p50/p95
printed as a Markdown table. `--keep` leaves the rows for a later run; `--reuse` measures the
rows a kept run left, as they are (no top-up, no re-roll).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # a throwaway, strong enough

import billing_scale as scale
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count
from django.test import Client, override_settings
from django.utils import timezone

from billing.models import Budget, RollupState, UsageEvent
from billing.services.rollups import rollups_refresh_tenant
from core.calendar import month_start
from llm.models import RoutingConfig
from tenants.models import Membership, Tenant
from tenants.services import membership_set

TARGET_P95_MS = 300.0


def _people(tenant: Tenant):
    users = get_user_model().objects
    owner = users.filter(username=f"{scale.PREFIX}-owner").first() or users.create_user(
        username=f"{scale.PREFIX}-owner", password=None, is_staff=True
    )
    membership_set(tenant=tenant, user=owner, role=Membership.Role.OWNER)
    operator = users.filter(username=f"{scale.PREFIX}-op").first() or users.create_superuser(
        username=f"{scale.PREFIX}-op", password=None
    )
    return owner, operator


def _budgets(tenant: Tenant) -> None:
    """A tenant budget per period and a config budget: the dashboard and budgets page read each
    one's spend (rollups + the open day)."""
    if Budget.objects.filter(tenant=tenant).exists():
        return
    config = RoutingConfig.objects.filter(tenant=tenant).first()
    Budget.objects.create(tenant=tenant, period="monthly", limit_usd=Decimal(5000))
    Budget.objects.create(tenant=tenant, period="daily", limit_usd=Decimal(200), mode="soft")
    Budget.objects.create(
        tenant=tenant, scope="config", config=config, period="monthly", limit_tokens=10**10
    )


def _rollups_current(tenants: list[Tenant]) -> None:
    """The generator backdates events into days already final: roll up from scratch."""
    RollupState.objects.filter(tenant__in=tenants).update(rolled_through=None)
    started = time.perf_counter()
    for tenant in tenants:
        rollups_refresh_tenant(tenant=tenant)
    scale._say(f"rollups brought up to date in {time.perf_counter() - started:.1f} s")


def _paths(tenant: Tenant) -> list[str]:
    base = f"/console/t/{tenant.slug}/"
    today = timezone.localtime(timezone.now(), tenant.tzinfo).date()
    first = month_start(month_start(today) - timedelta(days=1))  # the 1st of last month
    two_months = f"start={first.isoformat()}&end={today.isoformat()}"
    config = RoutingConfig.objects.filter(tenant=tenant).first()
    return [
        base,
        f"{base}usage/",
        f"{base}usage/?group_by=day&{two_months}",
        f"{base}usage/?group_by=model&{two_months}",
        f"{base}usage/?group_by=tag&{two_months}",
        f"{base}usage/?group_by=key&provider=openai&status=success&{two_months}",
        f"{base}usage/?group_by=day&format=csv&{two_months}",
        f"{base}budgets/",
        f"{base}configs/",
        f"{base}configs/{config.pk}/",
        f"{base}exports/",
        f"{base}audit/",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="leave the rows for a later run")
    parser.add_argument(
        "--reuse", action="store_true", help="the rows a --keep run left, rollups as they are"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("load_catalog", verbosity=0)
    if args.reuse:
        slugs = [f"{scale.PREFIX}-{suffix}" for suffix, _tz, _share in scale.TENANTS]
        tenants = sorted(Tenant.objects.filter(slug__in=slugs), key=lambda t: slugs.index(t.slug))
    else:
        tenants, _ = scale.generate(events=args.events, export_events=0, need_export=False)
        _rollups_current(tenants)
    big = tenants[0]
    _budgets(big)
    owner, operator = _people(big)
    total = UsageEvent.objects.count()
    per_tenant = dict(
        UsageEvent.objects.values_list("tenant__slug").annotate(n=Count("id")).order_by()
    )
    scale._say(f"pages over {total:,} events ({per_tenant.get(big.slug, 0):,} for {big.slug})")
    results = []
    client = Client()
    client.force_login(owner)
    for path in _paths(big):
        p50, p95 = scale._timed(client, path, args.requests, secure=True)
        scale._say(f"  {path}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        results.append((f"GET {path} p95 (p50 {p50:.0f} ms)", p95, "ms", TARGET_P95_MS))
    # The dashboard as its first load after a while finds it: the open day read in full.
    with override_settings(TOLLGATE_CONSOLE_OPEN_DAY_SECONDS=0):
        path = _paths(big)[0]
        p50, p95 = scale._timed(client, path, args.requests, secure=True)
    scale._say(f"  {path} (open day read every load): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    label = f"GET {path}, open day read every load, p95 (p50 {p50:.0f} ms)"
    results.append((label, p95, "ms", TARGET_P95_MS))
    client.force_login(operator)
    p50, p95 = scale._timed(client, "/console/operator/", args.requests, secure=True)
    scale._say(f"  /console/operator/: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    results.append((f"GET /console/operator/ p95 (p50 {p50:.0f} ms)", p95, "ms", TARGET_P95_MS))
    results.append((f"events in the database: {total:,}", True, "", True))
    print(scale._table(results))
    if not args.keep:
        scale.cleanup()
    return 0 if all(v <= t if not isinstance(v, bool) else v for _, v, _, t in results) else 1


if __name__ == "__main__":
    sys.exit(main())
