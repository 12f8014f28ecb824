"""Monthly billing exports: contract CSV, summary, checksum, versions, one scheduled per month."""

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import BillingExport, UsageEvent
from billing.services.exports import (
    HEADER,
    export_create,
    export_open,
    exports_schedule_due,
    safe_cell,
)
from billing.tests.test_budget_support import make_event, run_racing
from tests.support.catalog import config_create

CONTRACT = [
    "day",
    "tenant",
    "model",
    "provider",
    "config",
    "key_source",
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
]


def _read(export, part="data"):
    with export_open(export=export, part=part) as handle:
        data = handle.read()
    return data, list(csv.DictReader(io.StringIO(data.decode())))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-1.5", "-1.5"),
        ("+3", "+3"),
        ("gpt-4o", "gpt-4o"),
    ],
)
def test_cells_are_safe_against_formula_injection(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.django_db
def test_export_csv_summary_and_checksum(tenant):
    tenant.markup_pct = Decimal("10")
    tenant.save()
    config = config_create(tenant, name="plan", validate=False)
    day = datetime(2026, 10, 5, 12, tzinfo=UTC)
    make_event(tenant, at=day, cost="0.1234567891", config=config, cached_tokens=20)
    make_event(tenant, at=day, cost="0.0000000009", config=config)
    make_event(tenant, at=day, cost="2", key_source="byok", model="=cmd()", provider="openai")
    make_event(tenant, at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC), cost="5")  # November here
    export = export_create(tenant=tenant, month="2026-10")
    assert export.status == "ready" and export.version == 1
    data, rows = _read(export)
    assert list(rows[0].keys())[: len(CONTRACT)] == CONTRACT
    assert list(rows[0].keys()) == HEADER
    assert hashlib.sha256(data).hexdigest() == export.checksum_sha256
    assert len(rows) == export.row_count == 2
    platform = next(r for r in rows if r["key_source"] == "platform")
    assert platform["config"] == "plan" and platform["requests"] == "2"
    assert platform["cost_usd"] == "0.1234567900"
    assert platform["markup_usd"] == "0.0123456790"
    assert platform["cached_tokens"] == "20"
    byok = next(r for r in rows if r["key_source"] == "byok")
    assert byok["model"] == "'=cmd()"
    assert byok["markup_usd"] == "0.0000000000"
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("2.12345679")
    assert export.total_cost_usd == Decimal("2.12345679")
    _summary_bytes, summary = _read(export, "summary")
    by_source = {r["key_source"]: r for r in summary}
    assert by_source["platform"]["billable_usd"] == "0.1358024690"
    assert by_source["byok"]["billable_usd"] == "0.0000000000"
    assert export.summary["totals"]["billable_usd"] == "0.1358024690"


@pytest.mark.django_db
def test_regeneration_is_a_new_version_and_old_files_stay(tenant):
    make_event(tenant, at=datetime(2026, 10, 5, 12, tzinfo=UTC), cost="1")
    first = export_create(tenant=tenant, month="2026-10")
    first_data, _ = _read(first)
    make_event(tenant, at=datetime(2026, 10, 6, 12, tzinfo=UTC), cost="1")
    second = export_create(tenant=tenant, month="2026-10")
    assert second.version == 2 and second.file_name != first.file_name
    assert second.total_cost_usd == Decimal("2")
    assert _read(first)[0] == first_data
    assert hashlib.sha256(_read(first)[0]).hexdigest() == first.checksum_sha256


@pytest.mark.django_db
def test_bad_month_is_refused(tenant):
    from core.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="month"):
        export_create(tenant=tenant, month="2026-13")


@pytest.mark.django_db
def test_operator_export_covers_all_tenants(tenant, other_tenant):
    make_event(tenant, at=datetime(2026, 10, 5, 12, tzinfo=UTC), cost="1")
    make_event(other_tenant, at=datetime(2026, 10, 5, 12, tzinfo=UTC), cost="2")
    export = export_create(tenant=None, month="2026-10")
    _, rows = _read(export)
    assert {r["tenant"] for r in rows} == {"acme", "globex"}
    assert export.total_cost_usd == Decimal("3")


def _backdate(*tenants):
    from tenants.models import Tenant

    Tenant.objects.filter(pk__in=[t.pk for t in tenants]).update(
        created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


@pytest.mark.django_db(transaction=True)
def test_two_beats_make_one_scheduled_export_per_tenant_month(tenant, other_tenant):
    _backdate(tenant, other_tenant)
    make_event(tenant, at=datetime(2026, 10, 5, 12, tzinfo=UTC), cost="1")
    # 02:00 on 1 November in Berlin; still 31 October in New York.
    now = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    results = []

    def beat():
        results.append(exports_schedule_due(now=now))

    errors = run_racing(beat)
    beat()
    assert errors == []
    scheduled = BillingExport.objects.filter(scheduled=True).order_by("tenant__slug")
    # Berlin's October is due; New York is still in October (its September is caught up).
    assert [(e.tenant.slug, e.month, e.status, e.version) for e in scheduled] == [
        ("acme", "2026-10", "ready", 1),
        ("globex", "2026-09", "ready", 1),
    ]
    # Later, New York's month turns too.
    exports_schedule_due(now=now + timedelta(hours=5))
    exports_schedule_due(now=now + timedelta(hours=6))
    assert sorted(
        BillingExport.objects.filter(scheduled=True).values_list("tenant__slug", "month")
    ) == [("acme", "2026-10"), ("globex", "2026-09"), ("globex", "2026-10")]


@pytest.mark.django_db
def test_reconciliation_events_equal_rollups_equal_exports(tenant, other_tenant):
    import random

    from django.db.models import Sum

    from billing.models import DailyRollup, MonthlyRollup
    from billing.services.rollups import rollups_refresh_tenant

    rng = random.Random(7)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    for n in range(300):
        owner = tenant if n % 3 else other_tenant
        at = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 91))  # Sep..Nov
        cost = Decimal(rng.randrange(1, 10**9)) / Decimal(10**10)
        make_event(
            owner,
            at=at,
            cost=cost,
            key_source=rng.choice(["platform", "byok"]),
            model=rng.choice(["a", "b", "c"]),
        )
    now = datetime(2026, 12, 2, tzinfo=UTC)
    for owner in (tenant, other_tenant):
        rollups_refresh_tenant(tenant=owner, now=now)
        for month in ("2026-09", "2026-10", "2026-11"):
            export = export_create(tenant=owner, month=month)
            _, rows = _read(export)
            from zoneinfo import ZoneInfo

            from core.calendar import month_window

            window = month_window(month=month, tz=ZoneInfo(owner.timezone))
            events = UsageEvent.objects.filter(
                tenant=owner, created_at__gte=window.start, created_at__lt=window.end
            ).aggregate(s=Sum("cost_usd"))["s"] or Decimal(0)
            daily = DailyRollup.objects.filter(
                tenant=owner, day__gte=window.start_day, day__lt=window.end_day
            ).aggregate(s=Sum("cost_usd"))["s"] or Decimal(0)
            monthly = MonthlyRollup.objects.filter(tenant=owner, month=month).aggregate(
                s=Sum("cost_usd")
            )["s"] or Decimal(0)
            exported = sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0))
            assert events == daily == monthly == exported == export.total_cost_usd
            assert events > 0
