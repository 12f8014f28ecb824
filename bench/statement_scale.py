"""Monthly statement at scale (issue 17): a 1,000,000-event tenant-month finalized into a
statement, then written as CSV and PDF, timed together, with the peak RSS growth. Needs
PostgreSQL; the events come from billing_scale.py's generator (its export tenant's month):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tg_scale \
        .venv/bin/python bench/statement_scale.py --events 1000000

Targets: statement + CSV + PDF in at most 30 s together, memory growth under 200 MB. Checks:
the statement's usage lines cost exactly what the month's events cost; its rounded lines sum
to its total; billing_reconcile finds no difference. `--keep` leaves the events in place.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from decimal import Decimal

import billing_scale as scale  # sets up Django (same settings and environment handling)
from django.db import connection
from django.db.models import Sum

from billing.models import Statement, StatementLine, UsageEvent
from billing.services.reconcile import billing_reconcile
from billing.services.statement_documents import (
    statement_csv,
    statement_document,
    statement_pdf,
)
from billing.services.statements import statement_ensure, statement_finalize
from core.calendar import month_window
from tenants.models import Tenant

TARGETS = {"seconds": 30.0, "rss_mb": 200.0}


def _drop_statements(tenant) -> None:
    StatementLine.objects.filter(statement__tenant=tenant).delete()
    Statement.objects.filter(tenant=tenant).delete()


def run(*, events: int) -> list:
    _tenants, tenant = scale.generate(events=0, export_events=events, need_export=True)
    month = scale.EXPORT_MONTH
    window = month_window(month=month, tz=tenant.tzinfo)
    month_events = UsageEvent.objects.filter(
        tenant=tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    expected = month_events.aggregate(c=Sum("cost_usd"))["c"] or Decimal(0)
    n_events = month_events.count()
    _drop_statements(tenant)
    gc.collect()
    rss_before = scale._status_mb("VmRSS")
    reset = scale._reset_peak_rss()
    started = time.perf_counter()
    draft = statement_ensure(tenant=tenant, month=month)
    statement = statement_finalize(statement_id=draft.pk)
    finalized = time.perf_counter()
    document = statement_document(statement=statement)
    csv_bytes = statement_csv(document=document)
    pdf_bytes = statement_pdf(document=document)
    elapsed = time.perf_counter() - started
    peak = scale._status_mb("VmHWM") if reset else rss_before
    growth = max(0.0, peak - rss_before)
    usage = statement.lines.filter(kind__in=["usage", "metering"]).aggregate(c=Sum("cost_usd"))
    rounded = sum(line.amount for line in statement.lines.all())
    _checked, differences = billing_reconcile(month=month)
    scale._say(
        f"statement {statement.number}: {n_events:,} events, {statement.lines.count()} lines, "
        f"finalize {finalized - started:.2f} s, +CSV ({len(csv_bytes):,} B) +PDF "
        f"({len(pdf_bytes):,} B) {elapsed:.2f} s, peak RSS growth {growth:.1f} MB"
    )
    return [
        (f"statement + CSV + PDF, {n_events:,} events", elapsed, "s", TARGETS["seconds"]),
        ("statement: peak RSS growth", growth, "MB", TARGETS["rss_mb"]),
        ("statement: usage lines' cost == events' cost, exact", usage["c"] == expected, "", True),
        ("statement: total == sum of rounded lines", rounded == statement.total, "", True),
        ("statement: PDF bytes start with %PDF", pdf_bytes.startswith(b"%PDF"), "", True),
        ("billing_reconcile: no difference", not differences, "", True),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="leave the rows for a later run")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("statement_scale needs PostgreSQL: set DATABASE_URL", file=sys.stderr)
        return 2
    scale.call_command("migrate", verbosity=0)
    results: list = []
    try:
        results = run(events=args.events)
    finally:
        print()
        print(scale._table(results))
        print()
        if not args.keep:
            for tenant in Tenant.objects.filter(slug__startswith=scale.PREFIX):
                _drop_statements(tenant)
            scale.cleanup()
    return 0 if all((v == t) if isinstance(v, bool) else v <= t for _, v, _, t in results) else 1


if __name__ == "__main__":
    sys.exit(main())
