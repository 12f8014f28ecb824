"""Billing at scale: rollups, exports, the usage API and the admin dashboard over millions of
usage events (issue 5). Needs PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tg_scale \
        .venv/bin/python bench/billing_scale.py --events 1000000

Phases (`--phases`, default all): `rollups` (daily + monthly rollups of the N events through
the real services, twice), `export` (a tenant-month of `--export-events` events through the
real export service), `api` (p50/p95 of the usage API and the admin dashboard). Rollups and the
export are also reported as a multiple of one plain grouped scan of the same events, timed in
the same run (bench/billing_scan.py): seconds do not transfer between machines, ratios do.
Events are generated in SQL (INSERT ... SELECT FROM generate_series); a second run with a
larger N only tops the rows up. `--keep` leaves the rows in place; otherwise the bench's
tenants, events and rollups are deleted at the end.
"""

from __future__ import annotations

import argparse
import base64
import csv
import gc
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault(
    "SECRET_KEY", "bench-billing-scale-" + base64.b64encode(os.urandom(48)).decode()
)
os.environ.setdefault("TOLLGATE_ENCRYPTION_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="tollgate-bench-media-"))

import django  # noqa: E402

django.setup()

from billing_scan import describe, plain_scan  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from billing.models import (  # noqa: E402
    BillingExport,
    BudgetCounter,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    DailyUserRollup,
    MonthlyRollup,
    RollupState,
    UsageEvent,
)

ROLLUP_MODELS = (DailyRollup, MonthlyRollup, DailyTagRollup, DailyTagSetRollup, DailyUserRollup)
PREFIX = "bench-scale"
# (slug suffix, time zone, share of the N events)
TENANTS = [
    ("big", "UTC", Decimal("0.55")),
    ("paris", "Europe/Paris", Decimal("0.25")),
    ("ny", "America/New_York", Decimal("0.15")),
    ("tokyo", "Asia/Tokyo", Decimal("0.05")),
]
EXPORT_TENANT = ("export", "UTC")
EXPORT_MONTH = "2026-10"
# (served model, provider, USD per 1M input tokens, per 1M output tokens)
MODELS = [
    ("gpt-4o-mini", "openai", "0.15", "0.60"),
    ("gpt-4o", "openai", "2.50", "10.00"),
    ("claude-3-5-haiku", "anthropic", "0.80", "4.00"),
    ("claude-sonnet-4", "anthropic", "3.00", "15.00"),
    ("mistral-small", "mistral", "0.20", "0.60"),
    ("llama-3.1-70b", "groq", "0.59", "0.79"),
]
KEYS_PER_TENANT = 3
CONFIGS_PER_TENANT = 3
DAYS = 61  # two months of history, ending now

TARGETS = {"rollups_s": 10.0, "export_s": 10.0, "export_mb": 100.0, "p95_ms": 200.0}
# Issue 16: as a multiple of the plain grouped scan of the same events, in the same run.
RATIO_TARGETS = {"rollups": 3.0, "export": 2.0}
# Columns added to UsageEvent after this script's INSERT was written (NOT NULL, no database
# default) get their type's empty value, so the script runs on older and newer schemas alike.
EMPTY_VALUES = {
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "numeric": "0",
    "text": "''",
    "character varying": "''",
    "boolean": "false",
}


def _say(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


# --- fixtures -------------------------------------------------------------------------------


def _tenant(suffix: str, tz: str):
    from llm.models import RoutingConfig
    from tenants.models import Tenant, TenantApiKey
    from tenants.services import api_key_create

    tenant, _ = Tenant.objects.get_or_create(
        slug=f"{PREFIX}-{suffix}",
        defaults={"name": f"Bench {suffix}", "timezone": tz, "markup_pct": Decimal("10")},
    )
    while TenantApiKey.objects.filter(tenant=tenant).count() < KEYS_PER_TENANT:
        api_key_create(tenant=tenant, scopes=["read", "inference"], name="bench")
    for n in range(CONFIGS_PER_TENANT):
        RoutingConfig.objects.get_or_create(
            tenant=tenant, name=f"cfg-{n}", defaults={"primary_model": MODELS[n][0]}
        )
    return tenant


def _ids(tenant) -> tuple[list[int], list[int]]:
    from llm.models import RoutingConfig
    from tenants.models import TenantApiKey

    keys = list(
        TenantApiKey.objects.filter(tenant=tenant).order_by("pk").values_list("pk", flat=True)
    )
    cfgs = list(
        RoutingConfig.objects.filter(tenant=tenant).order_by("pk").values_list("pk", flat=True)
    )
    return keys[:KEYS_PER_TENANT], cfgs[:CONFIGS_PER_TENANT]


INSERT_SQL = """
INSERT INTO billing_usageevent (
    request_id, tenant_id, api_key_id, config_id, requested_model, model, provider, key_source,
    input_tokens, output_tokens, cached_tokens, cost_usd, saved_usd, latency_ms, status,
    fallback, attempts, route_reason, tags, error_code, created_at)
SELECT
    %(prefix)s || '-' || %(tenant)s || '-' || gs.n,
    %(tenant)s,
    CASE WHEN r.k < 0.05 THEN NULL ELSE (%(keys)s::bigint[])[1 + floor(r.k * 3)::int] END,
    CASE WHEN r.c < 0.10 THEN NULL ELSE (%(cfgs)s::bigint[])[1 + floor(r.c * 3)::int] END,
    (%(models)s::text[])[m.i], (%(models)s::text[])[m.i], (%(providers)s::text[])[m.i],
    CASE WHEN r.b < 0.15 THEN 'byok' ELSE 'platform' END,
    t.inp, t.outp, t.cached,
    CASE WHEN s.status IN ('success', 'fallback_success')
         THEN round((t.inp * (%(pin)s::numeric[])[m.i]
                     + t.outp * (%(pout)s::numeric[])[m.i]) / 1000000, 10)
         ELSE 0 END,
    CASE WHEN s.status = 'cache_hit'
         THEN round((t.inp * (%(pin)s::numeric[])[m.i]
                     + t.outp * (%(pout)s::numeric[])[m.i]) / 1000000, 10)
         ELSE 0 END,
    50 + floor(r.l * 3000)::int,
    s.status,
    s.status = 'fallback_success',
    '[]'::jsonb,
    '',
    CASE WHEN r.tg < 0.6 THEN '["prod"]'::jsonb WHEN r.tg < 0.8 THEN '["batch", "eval"]'::jsonb
         ELSE '[]'::jsonb END,
    CASE WHEN s.status = 'error' THEN 'upstream_error' ELSE '' END,
    %(start)s::timestamptz + (%(span)s::interval * r.t)
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS gs(n)
CROSS JOIN LATERAL (
    SELECT random() AS k, random() AS c, random() AS b, random() AS l, random() AS tg,
           random() AS t, random() AS st, random() AS mi, random() AS ti, random() AS to_,
           gs.n AS dep) r
CROSS JOIN LATERAL (SELECT 1 + floor(r.mi * r.mi * 6)::int AS i) m
CROSS JOIN LATERAL (
    SELECT CASE WHEN r.st < 0.90 THEN 'success' WHEN r.st < 0.93 THEN 'error'
                WHEN r.st < 0.97 THEN 'cache_hit' WHEN r.st < 0.99 THEN 'fallback_success'
                ELSE 'rejected' END AS status) s
CROSS JOIN LATERAL (
    SELECT 20 + floor(r.ti * r.ti * 8000)::int AS inp,
           CASE WHEN r.st >= 0.90 AND r.st < 0.93 OR r.st >= 0.99 THEN 0
                ELSE 1 + floor(r.to_ * 1200)::int END AS outp,
           floor(r.ti * 200)::int * 4 AS cached) t
ORDER BY 21
"""


def _insert_sql() -> str:
    """INSERT_SQL plus the table's required columns it does not name, with empty values."""
    named = set(INSERT_SQL.split("(", 1)[1].split(")", 1)[0].replace(",", " ").split())
    with connection.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s"
            " AND is_nullable = 'NO' AND column_default IS NULL AND column_name <> ALL(%s)",
            [UsageEvent._meta.db_table, [*named, "id"]],
        )
        extra = cur.fetchall()
    unknown = [f"{name} ({kind})" for name, kind in extra if kind not in EMPTY_VALUES]
    if unknown:
        raise SystemExit(f"billing_scale: no value for new required columns {', '.join(unknown)}")
    if not extra:
        return INSERT_SQL
    columns = "".join(f", {name}" for name, _ in extra)
    values = "".join(f", {EMPTY_VALUES[kind]}" for _, kind in extra)
    sql = INSERT_SQL.replace("error_code, created_at)", f"error_code, created_at{columns})", 1)
    return sql.replace("(%(span)s::interval * r.t)\n", f"(%(span)s::interval * r.t){values}\n", 1)


def _insert(tenant, *, first: int, last: int, start: datetime, span: timedelta) -> None:
    keys, cfgs = _ids(tenant)
    with connection.cursor() as cur:
        cur.execute(
            _insert_sql(),
            {
                "prefix": PREFIX,
                "tenant": tenant.pk,
                "keys": keys,
                "cfgs": cfgs,
                "models": [m[0] for m in MODELS],
                "providers": [m[1] for m in MODELS],
                "pin": [Decimal(m[2]) for m in MODELS],
                "pout": [Decimal(m[3]) for m in MODELS],
                "start": start,
                "span": span,
                "first": first,
                "last": last,
            },
        )


def _count(tenant) -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM billing_usageevent WHERE tenant_id = %s", [tenant.pk])
        return cur.fetchone()[0]


def _spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def generate(*, events: int, export_events: int, need_export: bool) -> tuple[list, object]:
    """Top the bench tenants up to `events` events over the last DAYS days (and the export
    tenant up to `export_events` in EXPORT_MONTH). Returns (tenants, export tenant).

    Rows are appended day by day, each day's rows in time order (an append-only log's layout:
    a day's events sit together on disk), the tenants interleaved day by day."""
    now = timezone.now()
    start = now - timedelta(days=DAYS)
    started = time.perf_counter()
    inserted = 0
    plan = []
    for suffix, tz, share in TENANTS:
        tenant = _tenant(suffix, tz)
        have = _count(tenant)
        plan.append((tenant, have, _spread(max(0, int(events * share) - have), DAYS)))
    for day in range(DAYS):
        for n, (tenant, cursor, per_day) in enumerate(plan):
            if per_day[day]:
                _insert(
                    tenant,
                    first=cursor + 1,
                    last=cursor + per_day[day],
                    start=start + timedelta(days=day),
                    span=timedelta(days=1),
                )
                inserted += per_day[day]
                plan[n] = (tenant, cursor + per_day[day], per_day)
        if day % 10 == 9:
            _say(f"  day {day + 1}/{DAYS}: {inserted:,} events inserted")
    tenants = [tenant for tenant, _, _ in plan]
    export_tenant = None
    if need_export:
        export_tenant = _tenant(*EXPORT_TENANT)
        have = _count(export_tenant)
        month_start = datetime(2026, 10, 1, tzinfo=UTC)
        for day, count in enumerate(_spread(max(0, export_events - have), 31)):
            if count:
                _insert(
                    export_tenant,
                    first=have + 1,
                    last=have + count,
                    start=month_start + timedelta(days=day),
                    span=timedelta(days=1),
                )
                have += count
                inserted += count
        _say(f"  {export_tenant.slug}: {have:,} events in {EXPORT_MONTH}")
    if inserted:
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE billing_usageevent")
        elapsed = time.perf_counter() - started
        _say(f"generated {inserted:,} events in {elapsed:.1f} s ({inserted / elapsed:,.0f}/s)")
    return tenants, export_tenant


# --- phases ---------------------------------------------------------------------------------


def _bucket_snapshot(tenant_ids: list[int]) -> tuple:
    from billing.services.rollup_upsert import MEASURES
    from billing.services.rollups import DIMENSIONS, TAG_DIMENSIONS, TAG_SET_DIMENSIONS

    def rows(model, period: str, dimensions: list[str]) -> list:
        fields = ("tenant_id", period, *dimensions, *MEASURES)
        return sorted(model.objects.filter(tenant_id__in=tenant_ids).values_list(*fields))

    daily = rows(DailyRollup, "day", DIMENSIONS)
    monthly = rows(MonthlyRollup, "month", DIMENSIONS)
    tagged = rows(DailyTagRollup, "day", TAG_DIMENSIONS)
    tag_sets = rows(DailyTagSetRollup, "day", TAG_SET_DIMENSIONS)
    return daily, monthly, tagged, tag_sets


def _tag_sums(tenant_ids: list[int]) -> tuple[dict, dict]:
    """(per tag from the events, per tag from the tag rollups): requests and cost."""
    from django.db.models import Sum

    with connection.cursor() as cur:
        cur.execute(
            "SELECT t.tag, count(*), sum(e.cost_usd) FROM billing_usageevent e "
            "CROSS JOIN LATERAL jsonb_array_elements_text(e.tags) t(tag) "
            "WHERE e.tenant_id = ANY(%s) GROUP BY t.tag",
            [tenant_ids],
        )
        events = {tag: (n, cost) for tag, n, cost in cur.fetchall()}
    rolled = {
        row["tag"]: (row["n"], row["cost"])
        for row in DailyTagRollup.objects.filter(tenant_id__in=tenant_ids)
        .values("tag")
        .annotate(n=Sum("requests"), cost=Sum("cost_usd"))
        .order_by()
    }
    return events, rolled


def _sums(model, tenant_ids: list[int], count_field: str) -> tuple[int, Decimal]:
    from django.db.models import Count, Sum

    measure = Sum(count_field) if count_field != "id" else Count("id")
    row = model.objects.filter(tenant_id__in=tenant_ids).aggregate(n=measure, cost=Sum("cost_usd"))
    return int(row["n"] or 0), row["cost"] or Decimal(0)


def _vacuum_rollups() -> None:
    """Start from tables without dead rows: with autovacuum off (as on the bench machine) every
    earlier run's deleted and updated buckets would otherwise be measured too."""
    with connection.cursor() as cur:
        for model in ROLLUP_MODELS:
            cur.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def phase_rollups(tenants: list, results: list) -> None:
    from billing.services.rollups import rollups_refresh_tenant

    ids = [t.pk for t in tenants]
    n_events = sum(_count(t) for t in tenants)
    scan = plain_scan(tenant_ids=ids)
    _say(describe(scan))
    snapshots = []
    for run in (1, 2):
        RollupState.objects.filter(tenant_id__in=ids).update(rolled_through=None)
        if run == 1:
            for model in ROLLUP_MODELS:
                model.objects.filter(tenant_id__in=ids).delete()
            _vacuum_rollups()
        started = time.perf_counter()
        buckets = sum(rollups_refresh_tenant(tenant=t) for t in tenants)
        elapsed = time.perf_counter() - started
        snapshots.append(_bucket_snapshot(ids))
        _say(f"rollups run {run}: {n_events:,} events -> {buckets:,} buckets in {elapsed:.2f} s")
        results.append(
            (
                f"rollups daily+monthly, {n_events:,} events, run {run}",
                elapsed,
                "s",
                TARGETS["rollups_s"],
            )
        )
        results.append(
            (
                f"rollups (all dimensions) run {run} / plain grouped scan ({scan.seconds:.2f} s)",
                elapsed / scan.seconds,
                "x",
                RATIO_TARGETS["rollups"],
            )
        )
    events = _sums(UsageEvent, ids, "id")
    daily = _sums(DailyRollup, ids, "requests")
    monthly = _sums(MonthlyRollup, ids, "requests")
    same = snapshots[0] == snapshots[1]
    exact = events == daily == monthly
    tag_events, tag_rolled = _tag_sums(ids)
    _say(f"  events {events}, daily {daily}, monthly {monthly}; second run identical: {same}")
    _say(f"  per tag: events {tag_events}, tag rollups {tag_rolled}")
    _say(f"  buckets: {[len(rows) for rows in snapshots[-1]]} (daily, monthly, tag, tag set)")
    results.append(("rollups: second run writes the same rows", same, "", True))
    results.append(("rollups: sum(events) == sum(daily) == sum(monthly)", exact, "", True))
    scanned = (scan.events, scan.cost_usd) == daily
    results.append(("rollups: the plain scan's sums == sum(daily)", scanned, "", True))
    results.append(("rollups: per tag, events == tag rollups", tag_events == tag_rolled, "", True))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so it measures this phase only (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def phase_export(tenant, results: list) -> None:
    from django.core.files.storage import default_storage
    from django.db.models import Sum

    from billing.services.exports import export_create
    from core.calendar import month_window

    window = month_window(month=EXPORT_MONTH, tz=tenant.tzinfo)
    month_events = UsageEvent.objects.filter(
        tenant=tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    expected = month_events.aggregate(c=Sum("cost_usd"))["c"]
    n_events = month_events.count()
    scan = plain_scan(tenant_ids=[tenant.pk], start=window.start, end=window.end)
    _say(describe(scan))
    RollupState.objects.filter(tenant=tenant).update(rolled_through=None)
    for model in ROLLUP_MODELS:
        model.objects.filter(tenant=tenant).delete()
    _vacuum_rollups()
    gc.collect()
    rss_before = _status_mb("VmRSS")
    reset = _reset_peak_rss()
    started = time.perf_counter()
    export = export_create(tenant=tenant, month=EXPORT_MONTH)
    elapsed = time.perf_counter() - started
    # Peak RSS during the export over the RSS before it (without the reset, the process's
    # lifetime peak from getrusage: an upper bound).
    peak = (
        _status_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    growth = max(0.0, peak - rss_before)
    total = Decimal(0)
    rows = 0
    with default_storage.open(export.file_name, "rb") as fh:
        for row in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")):
            total += Decimal(row["cost_usd"])
            rows += 1
    exact = total == expected and export.total_cost_usd == expected
    _say(
        f"export {EXPORT_MONTH}: {n_events:,} events -> {rows:,} CSV rows in {elapsed:.2f} s, "
        f"peak RSS growth {growth:.1f} MB (RSS before {rss_before:.0f} MB), "
        f"CSV cost {total} vs events {expected}"
    )
    results.append((f"export tenant-month, {n_events:,} events", elapsed, "s", TARGETS["export_s"]))
    results.append(
        (
            f"export / plain grouped scan of the month ({scan.seconds:.2f} s)",
            elapsed / scan.seconds,
            "x",
            RATIO_TARGETS["export"],
        )
    )
    exact = exact and scan.events == n_events and scan.cost_usd == expected
    results.append(("export: peak RSS growth", growth, "MB", TARGETS["export_mb"]))
    results.append(("export: CSV cost sum == month's events, exact", exact, "", True))
    for name in (export.file_name, export.summary_file_name):
        default_storage.delete(name)


def _timed(client: Client, path: str, n: int, **headers) -> tuple[float, float]:
    for _ in range(2):  # warm-up
        response = client.get(path, **headers)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, **headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


READ_CHECKS = [
    ("day", {}),
    ("month", {}),
    ("model", {}),
    ("config", {}),
    ("key", {}),
    ("tag", {}),
    ("tag", {"status": "error"}),
    ("model", {"tag": "eval"}),
    ("day", {"status": "cache_hit"}),
    ("provider", {"tag": "prod", "status": "success"}),
]


def _check_reads(tenant) -> bool:
    """The usage aggregates read from rollups + events equal the events-only aggregates."""
    from billing.selectors.rollup_state import rolled_through
    from billing.selectors.usage_aggregates import usage_aggregate
    from billing.selectors.usage_filters import UsageFilters

    today = timezone.now().astimezone(tenant.tzinfo).date()
    watermark = rolled_through(tenant=tenant)
    same = True
    for group_by, filters in READ_CHECKS:
        args = {
            "tenant": tenant,
            "start": today.replace(day=1),
            "end": today,
            "group_by": group_by,
            "filters": UsageFilters(**filters),
        }
        fast = usage_aggregate(**args)
        RollupState.objects.filter(tenant=tenant).update(rolled_through=None)
        slow = usage_aggregate(**args)
        RollupState.objects.filter(tenant=tenant).update(rolled_through=watermark)
        if fast != slow:
            _say(f"  MISMATCH {group_by} {filters}")
        same = same and fast == slow
    return same


def phase_api(
    tenants: list, requests: int, results: list, *, rollup_reads: bool, only: list[str]
) -> None:
    from django.contrib.auth import get_user_model

    from billing.services.rollups import rollups_refresh_tenant
    from tenants.models import Membership
    from tenants.services import api_key_create, membership_set

    big = tenants[0]
    if rollup_reads:
        # The scheduled rollup task keeps rollups current in production; bring them up to date
        # (from scratch: the generator backdates events into days already final).
        from tenants.models import Tenant

        everyone = list(Tenant.objects.filter(slug__startswith=PREFIX))
        RollupState.objects.filter(tenant__in=everyone).update(rolled_through=None)
        started = time.perf_counter()
        for tenant in everyone:
            rollups_refresh_tenant(tenant=tenant)
        _say(f"rollups brought up to date in {time.perf_counter() - started:.1f} s")
    else:
        # Before the fix: every read aggregated the raw events (no rollup watermark).
        RollupState.objects.filter(tenant__in=tenants).update(rolled_through=None)
        _say("rollup watermark cleared: every read aggregates raw events")
    total = UsageEvent.objects.count()
    _, secret = api_key_create(tenant=big, scopes=["read"], name="bench-api")
    users = get_user_model().objects
    owner = users.filter(username=f"{PREFIX}-owner").first() or users.create_user(
        username=f"{PREFIX}-owner", password=None, is_staff=True
    )
    membership_set(tenant=big, user=owner, role=Membership.Role.OWNER)
    operator = users.filter(username=f"{PREFIX}-op").first() or users.create_superuser(
        username=f"{PREFIX}-op", password=None
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    today = timezone.now().date()
    two_months = f"start={(today - timedelta(days=DAYS)).isoformat()}&end={today.isoformat()}"
    paths = [f"/api/v1/usage/?group_by={g}" for g in ("day", "model", "provider", "config", "key")]
    paths += [
        "/api/v1/usage/?group_by=month&" + two_months,
        "/api/v1/usage/?group_by=model&" + two_months,
        "/api/v1/usage/?group_by=tag",
        "/api/v1/usage/?group_by=tag&" + two_months,
        "/api/v1/usage/?group_by=model&tag=eval",
        "/api/v1/usage/?group_by=day&status=error",
        "/api/v1/usage/?group_by=tag&status=cache_hit",
        "/api/v1/usage/?group_by=tag&tag=eval&" + two_months,  # raw events: co-occurring tags
        "/api/v1/usage/?group_by=provider&tag=prod&status=success&" + two_months,
        "/api/v1/usage/events/",
        "/api/v1/usage/events/?model=gpt-4o&" + two_months,
        "/api/v1/usage/events/?tag=eval&" + two_months,
        "/api/v1/usage/events/?status=error&" + two_months,
    ]
    _say(f"API and dashboard over {total:,} events ({_count(big):,} for {big.slug})")
    paths = [p for p in paths if not only or any(o in p for o in only)]
    for path in paths:
        p50, p95 = _timed(api, path, requests)
        _say(f"  {path}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        results.append((f"GET {path} p95 (p50 {p50:.0f} ms)", p95, "ms", TARGETS["p95_ms"]))
    for label, user in (("tenant owner", owner), ("operator", operator)):
        if only and not any(o in "/admin/" for o in only):
            continue
        client = Client()
        client.force_login(user)
        p50, p95 = _timed(client, "/admin/", requests, secure=True)
        _say(f"  /admin/ as {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        results.append(
            (f"GET /admin/ as {label} p95 (p50 {p50:.0f} ms)", p95, "ms", TARGETS["p95_ms"])
        )
    results.append((f"events in the database during the API phase: {total:,}", True, "", True))
    if rollup_reads:
        same = _check_reads(big)
        _say(f"  usage aggregates from rollups + events == from events only: {same}")
        label = f"usage API: rollup reads == event reads ({len(READ_CHECKS)} reads)"
        results.append((label, same, "", True))


def cleanup() -> None:
    from tenants.models import Tenant

    ids = list(Tenant.objects.filter(slug__startswith=PREFIX).values_list("pk", flat=True))
    with connection.cursor() as cur:
        cur.execute("DELETE FROM billing_usageevent WHERE tenant_id = ANY(%s)", [ids])
    for model in ROLLUP_MODELS:
        model.objects.filter(tenant_id__in=ids).delete()
    BillingExport.objects.filter(tenant_id__in=ids).delete()
    BudgetCounter.objects.filter(tenant_id__in=ids).delete()
    Tenant.objects.filter(pk__in=ids).delete()
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith=PREFIX).delete()
    _say("cleaned up the bench's tenants, events, rollups and exports")


def _table(results: list) -> str:
    lines = ["| measurement | value | target | ok |", "|---|---:|---:|:---:|"]
    for label, value, unit, target in results:
        if isinstance(value, bool):
            ok = value == target
            lines.append(f"| {label} | {'yes' if value else 'NO'} | yes | {'✓' if ok else '✗'} |")
        else:
            ok = value <= target
            if unit == "x":
                shown, limit = f"{value:.2f}x", f"<= {target:g}x"
            else:
                shown = f"{value:.2f} {unit}" if unit == "s" else f"{value:.1f} {unit}"
                limit = f"<= {target:g} {unit}"
            lines.append(f"| {label} | {shown} | {limit} | {'✓' if ok else '✗'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--export-events", type=int, default=1_000_000)
    parser.add_argument("--phases", default="rollups,export,api")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--events-only",
        action="store_true",
        help="API phase without the rollup watermark (every read scans events: the 'before')",
    )
    parser.add_argument("--only", default="", help="API phase: only paths containing these")
    parser.add_argument("--keep", action="store_true", help="leave the rows for a later run")
    parser.add_argument("--cleanup-only", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("billing_scale needs PostgreSQL: set DATABASE_URL", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0)  # a new database works as it is
    if args.cleanup_only:
        cleanup()
        return 0
    phases = set(args.phases.split(","))
    _say(f"billing at scale on {connection.settings_dict['NAME']}, {date.today()}")
    tenants, export_tenant = generate(
        events=args.events, export_events=args.export_events, need_export="export" in phases
    )
    results: list = []
    try:
        if "rollups" in phases:
            phase_rollups(tenants, results)
        if "export" in phases:
            phase_export(export_tenant, results)
        if "api" in phases:
            phase_api(
                tenants,
                args.requests,
                results,
                rollup_reads=not args.events_only,
                only=[o for o in args.only.split(",") if o],
            )
    finally:
        print()
        print(_table(results))
        print()
        if not args.keep:
            cleanup()
    return 0 if all((v == t) if isinstance(v, bool) else v <= t for _, v, _, t in results) else 1


if __name__ == "__main__":
    sys.exit(main())
