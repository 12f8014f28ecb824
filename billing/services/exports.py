"""Monthly billing exports: the contract's CSV, a summary, a SHA-256 checksum, versioned files.

- Rows are the month's usage grouped by (day, model, provider, config, key source), read by
  billing/selectors/export_rows.py from the raw events of every day that still has them and
  from the daily rollups only for the days retention purged: the sum of `cost_usd` is the
  month's usage exactly (costs are written with all 10 decimal places the database keeps).
  Why not the rollups throughout: they are exact only for days rolled after their last event,
  and the export used to recompute the whole month's rollups first (most of its time) to cover
  days after the watermark, late events on final days and configs deleted since. One grouped
  read of the events is that recomputation without the writes; the purged days are the only
  ones the events cannot answer, and the rollups are final for them (retention deletes only
  whole days the watermark has passed).
- Extra columns after the contract's (new ones only ever at the end): `markup_usd`
  (Tenant.markup_pct on platform-key spend; BYOK spend is informational and carries none),
  `cache_write_tokens` (part of input_tokens) and `reasoning_tokens` (part of output_tokens).
- Summary (a second CSV, and JSON on the row): per tenant and key source the requests, tokens,
  cost, markup and billable amount (platform cost + markup; BYOK billable 0).
- Files go through Django's storage API under a new name for every version; a file once
  written is never changed. Generation streams rows (server-side iterator, temp file on disk).
- Exactly one scheduled export per tenant-month: a partial unique constraint on the row, and a
  conditional claim (`UPDATE ... WHERE status='pending'`, rowcount must be 1) before generating.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from billing.models import BillingExport
from billing.selectors.export_rows import export_lines
from billing.sql import hashed_grouping
from core.errors import InvalidRequest
from core.money import COST_QUANTUM, money_quantize, money_text
from llm.models import RoutingConfig
from tenants.models import Tenant

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from typing import IO

    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

HEADER = [
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
    "markup_usd",
    "cache_write_tokens",
    "reasoning_tokens",
]
SUMMARY_HEADER = [
    "tenant",
    "key_source",
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "markup_pct",
    "markup_usd",
    "billable_usd",
]
STALE_CLAIM = timedelta(minutes=30)
# A tenant's previous month is exported once its local time passes the 1st, 01:00 (the hour
# lets late usage events drain from the ingestion buffer first).
SCHEDULE_AFTER = timedelta(hours=1)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r" and not _NUMBER.match(text):
        return "'" + text
    return text


def _cost_text(value) -> str:
    return money_text(money_quantize(value))


def _check_month(month: str) -> date:
    match = _MONTH.match(month or "")
    if not match:
        raise InvalidRequest("month must look like 2026-10.", extra={"param": "month"})
    return date(int(match[1]), int(match[2]), 1)


def _next_version(*, tenant: Tenant | None, month: str) -> int:
    current = BillingExport.objects.filter(tenant=tenant, month=month).aggregate(v=Max("version"))
    return (current["v"] or 0) + 1


def export_create(
    *,
    tenant: Tenant | None,
    month: str,
    user: AbstractBaseUser | None = None,
    scheduled: bool = False,
    generate: bool = True,
) -> BillingExport:
    """A new version of a month's export (tenant=None: every tenant in one file). A scheduled
    export exists once per tenant-month: a second call returns the first one."""
    _check_month(month)
    if scheduled and tenant is None:
        raise InvalidRequest("Only tenant exports are scheduled.")
    export = None
    for _attempt in range(5):
        try:
            with transaction.atomic():
                export = BillingExport.objects.create(
                    tenant=tenant,
                    month=month,
                    version=_next_version(tenant=tenant, month=month),
                    scheduled=scheduled,
                    created_by=user,
                )
            break
        except IntegrityError:
            if scheduled:
                existing = BillingExport.objects.filter(
                    tenant=tenant, month=month, scheduled=True
                ).first()
                if existing is not None:
                    return existing
            # otherwise a concurrent creation took the version number: try the next one
    if export is None:
        raise InvalidRequest("Could not allocate an export version; try again.")
    if generate:
        export_generate(export_id=export.pk)
        export.refresh_from_db()
    return export


def export_claim(*, export_id: int, now: datetime | None = None) -> bool:
    """Claim an export for generation; True for exactly one caller (a claim older than
    STALE_CLAIM is taken over: its worker died)."""
    now = now or timezone.now()
    claimed = BillingExport.objects.filter(
        Q(status=BillingExport.Status.PENDING)
        | Q(status=BillingExport.Status.RUNNING, started_at__lt=now - STALE_CLAIM),
        pk=export_id,
    ).update(status=BillingExport.Status.RUNNING, started_at=now)
    return claimed == 1


def export_generate(*, export_id: int) -> bool:
    """Generate a claimed export's files; False when another worker has it or it is done."""
    if not export_claim(export_id=export_id):
        return False
    export = BillingExport.objects.select_related("tenant").get(pk=export_id)
    try:
        _generate(export)
    except Exception as exc:
        BillingExport.objects.filter(pk=export.pk).update(
            status=BillingExport.Status.FAILED, error=type(exc).__name__[:300]
        )
        raise
    return True


def _tenants(export: BillingExport) -> list[Tenant]:
    if export.tenant_id:
        return [export.tenant]
    return list(Tenant.objects.order_by("slug"))


def _generate(export: BillingExport) -> None:
    """Write the data CSV (streamed through a temp file on disk) and its summary to storage
    under new names, and mark the export ready."""
    first = _check_month(export.month)
    tenants = _tenants(export)
    config_names = dict(RoutingConfig.objects.filter(tenant__in=tenants).values_list("id", "name"))
    rows = (
        row
        for tenant in sorted(tenants, key=lambda tenant: tenant.pk)
        for row in export_lines(tenant=tenant, first=first)
    )
    owner = export.tenant.slug if export.tenant_id else "_all"
    base = f"billing-exports/{owner}/{export.month}/{owner}-{export.month}-v{export.version}"
    with tempfile.TemporaryFile() as raw:
        with hashed_grouping():
            summary, total, count = _write_rows(
                raw, rows=rows, by_id={tenant.pk: tenant for tenant in tenants}, names=config_names
            )
        raw.seek(0)
        checksum = _sha256(raw)
        raw.seek(0)
        file_name = default_storage.save(f"{base}.csv", File(raw))
    summary_rows, summary_json = _summary(summary)
    summary_name = default_storage.save(f"{base}-summary.csv", File(io.BytesIO(summary_rows)))
    BillingExport.objects.filter(pk=export.pk).update(
        status=BillingExport.Status.READY,
        file_name=file_name,
        summary_file_name=summary_name,
        checksum_sha256=checksum,
        row_count=count,
        total_cost_usd=total,
        summary=summary_json,
        error="",
        completed_at=timezone.now(),
    )


def _write_rows(
    raw: IO[bytes], *, rows: Iterable[dict], by_id: dict[int, Tenant], names: dict[int, str]
) -> tuple[dict[tuple[str, str], dict], Decimal, int]:
    """Stream the data CSV into `raw`; returns the summary buckets per (tenant slug, key
    source), the total cost and the number of rows."""
    summary: dict[tuple[str, str], dict] = {}
    total = Decimal(0)
    count = 0
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(HEADER)
    for row in rows:
        tenant = by_id[row["tenant_id"]]
        cost = money_quantize(row["cost"])
        markup = _markup(tenant=tenant, key_source=row["key_source"], cost=cost)
        writer.writerow(_data_line(row, tenant=tenant, names=names, cost=cost, markup=markup))
        _summary_add(summary, row, tenant=tenant, cost=cost, markup=markup)
        total += cost
        count += 1
    text.flush()
    text.detach()  # `raw` stays open for the checksum and the upload
    return summary, total, count


def _markup(*, tenant: Tenant, key_source: str, cost: Decimal) -> Decimal:
    """Tenant.markup_pct on platform-key spend; BYOK spend carries none."""
    if key_source == "platform" and tenant.markup_pct:
        return (cost * tenant.markup_pct / 100).quantize(COST_QUANTUM)
    return Decimal(0)


def _data_line(
    row: dict, *, tenant: Tenant, names: dict[int, str], cost: Decimal, markup: Decimal
) -> list:
    """One CSV line in HEADER's order (a deleted config shows as #id)."""
    config = names.get(row["config_ref"], f"#{row['config_ref']}")
    return [
        row["day"].isoformat(),
        safe_cell(tenant.slug),
        safe_cell(row["model"]),
        safe_cell(row["provider"]),
        safe_cell(config if row["config_ref"] else ""),
        safe_cell(row["key_source"]),
        row["n"],
        row["inp"],
        row["out"],
        row["cached"],
        _cost_text(cost),
        _cost_text(markup),
        row["write"],
        row["reasoning"],
    ]


def _summary_add(
    summary: dict[tuple[str, str], dict],
    row: dict,
    *,
    tenant: Tenant,
    cost: Decimal,
    markup: Decimal,
) -> None:
    """Add one CSV line to its (tenant slug, key source) summary bucket."""
    bucket = summary.setdefault(
        (tenant.slug, row["key_source"]),
        {
            "requests": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cached_tokens": 0,
            "cost_usd": Decimal(0),
            "markup_usd": Decimal(0),
            "markup_pct": tenant.markup_pct,
        },
    )
    bucket["requests"] += row["n"]
    bucket["input_tokens"] += row["inp"]
    bucket["output_tokens"] += row["out"]
    bucket["cached_tokens"] += row["cached"]
    bucket["cost_usd"] += cost
    bucket["markup_usd"] += markup


def _sha256(raw: IO[bytes]) -> str:
    """The hex SHA-256 of a file read from its current position, in 64 KiB chunks."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: raw.read(1 << 16), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _summary(summary: dict) -> tuple[bytes, dict]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SUMMARY_HEADER)
    totals = {
        "billable_usd": Decimal(0),
        "platform_cost_usd": Decimal(0),
        "byok_cost_usd": Decimal(0),
        "markup_usd": Decimal(0),
    }
    lines = []
    for (slug, source), bucket in sorted(summary.items()):
        billable = bucket["cost_usd"] + bucket["markup_usd"] if source == "platform" else 0
        writer.writerow(
            [
                safe_cell(slug),
                source,
                bucket["requests"],
                bucket["input_tokens"],
                bucket["output_tokens"],
                bucket["cached_tokens"],
                _cost_text(bucket["cost_usd"]),
                str(bucket["markup_pct"]),
                _cost_text(bucket["markup_usd"]),
                _cost_text(billable),
            ]
        )
        totals["billable_usd"] += billable
        totals["markup_usd"] += bucket["markup_usd"]
        totals[f"{source}_cost_usd"] = totals.get(f"{source}_cost_usd", 0) + bucket["cost_usd"]
        lines.append(
            {
                "tenant": slug,
                "key_source": source,
                "requests": bucket["requests"],
                "cost_usd": _cost_text(bucket["cost_usd"]),
                "markup_usd": _cost_text(bucket["markup_usd"]),
                "billable_usd": _cost_text(billable),
            }
        )
    return out.getvalue().encode(), {
        "lines": lines,
        "totals": {key: _cost_text(value) for key, value in totals.items()},
    }


def export_open(*, export: BillingExport, part: str = "data") -> IO[bytes]:
    """The export's CSV (part="data") or its summary (part="summary") from storage."""
    if export.status != BillingExport.Status.READY:
        raise InvalidRequest("The export is not ready yet.")
    name = export.file_name if part == "data" else export.summary_file_name
    return default_storage.open(name, "rb")


def exports_schedule_due(*, now: datetime | None = None, generate: bool = True) -> list[int]:
    """For every active tenant whose local month has turned (plus SCHEDULE_AFTER), make sure the
    previous month's scheduled export exists and is generated; returns the ids handled."""
    now = now or timezone.now()
    handled = []
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk"):
        local = (now - SCHEDULE_AFTER).astimezone(ZoneInfo(tenant.timezone))
        this_month = local.date().replace(day=1)
        month = (this_month - timedelta(days=1)).strftime("%Y-%m")
        if tenant.created_at.astimezone(ZoneInfo(tenant.timezone)).date() >= this_month:
            continue  # the tenant did not exist yet in that month
        export = BillingExport.objects.filter(tenant=tenant, month=month, scheduled=True).first()
        if export is None:
            export = export_create(tenant=tenant, month=month, scheduled=True, generate=False)
        if export.status in (BillingExport.Status.PENDING, BillingExport.Status.RUNNING):
            if generate:
                export_generate(export_id=export.pk)
            handled.append(export.pk)
    return handled
