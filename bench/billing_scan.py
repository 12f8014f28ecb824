"""The yardstick of billing at scale: one plain grouped scan of the same usage events.

Seconds do not transfer between machines (the same rollups took 5.5 s on one day and 17.7 s on
a slower one), so bench/billing_scale.py times this scan in the same run, over the same rows,
and reports rollups and the export as a multiple of it. The scan is what any report over the
events must at least do: read every row once and group it by tenant day and model, summing the
measures. Needs Django set up (imported by billing_scale.py after django.setup()).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from billing.models import UsageEvent
from tenants.models import Tenant

SCAN_SQL = """
SELECT e.tenant_id, (e.created_at AT TIME ZONE t.timezone)::date AS day, e.model,
       count(*), sum(e.input_tokens), sum(e.output_tokens), sum(e.cached_tokens),
       sum(e.cost_usd), sum(e.saved_usd)
FROM {events} e JOIN {tenants} t ON t.id = e.tenant_id
WHERE e.tenant_id = ANY(%(tenants)s) {window}
GROUP BY 1, 2, 3
"""
WINDOW_SQL = "AND e.created_at >= %(start)s AND e.created_at < %(end)s"


@dataclass(frozen=True)
class Scan:
    """The median time of the runs, and what the scan summed (for the exactness checks)."""

    seconds: float
    runs: list[float]
    events: int
    cost_usd: Decimal
    groups: int


def plain_scan(
    *,
    tenant_ids: list[int],
    start: datetime | None = None,
    end: datetime | None = None,
    runs: int = 3,
) -> Scan:
    """Time `SELECT day, model, SUM(...) ... GROUP BY` over the tenants' events (all of them,
    or those in [start, end)), fetching every group, `runs` times."""
    sql = SCAN_SQL.format(
        events=UsageEvent._meta.db_table,
        tenants=Tenant._meta.db_table,
        window=WINDOW_SQL if start is not None else "",
    )
    params = {"tenants": tenant_ids, "start": start, "end": end}
    times = []
    rows: list = []
    with connection.cursor() as cur:
        for _ in range(runs):
            started = time.perf_counter()
            cur.execute(sql, params)
            rows = cur.fetchall()
            times.append(time.perf_counter() - started)
    return Scan(
        seconds=statistics.median(times),
        runs=times,
        events=sum(row[3] for row in rows),
        cost_usd=sum((row[7] for row in rows), Decimal(0)),
        groups=len(rows),
    )


def describe(scan: Scan) -> str:
    shown = ", ".join(f"{t:.2f}" for t in scan.runs)
    return (
        f"plain grouped scan: {scan.events:,} events -> {scan.groups:,} (tenant, day, model) "
        f"groups in {scan.seconds:.2f} s (median of {shown} s), cost {scan.cost_usd}"
    )
