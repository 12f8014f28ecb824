"""A statement as a document: one dict (the JSON), and the CSV and PDF written from it.

A finalized statement reads its stored lines; an open or closing one is a live preview from
today's events (no number, marked as a draft everywhere). The PDF is rendered from an HTML
template by xhtml2pdf (pure Python, no network, no system libraries), the daily spend chart is
a PNG drawn with Pillow and inlined as a data URI.
"""

from __future__ import annotations

import base64
import csv
import io
from decimal import Decimal

from django.template.loader import render_to_string

from billing.models import CreditNote, Statement, StatementLine
from billing.services.exports import safe_cell
from billing.services.statement_lines import LineDraft, statement_draft_compute
from billing.services.statements import (
    byok_request_fee,
    line_draft_of,
    tenant_header,
)
from core.money import money_cents, money_text

CSV_HEADER = [
    "statement",
    "month",
    "position",
    "kind",
    "adjusts_month",
    "description",
    "model",
    "provider",
    "key_source",
    "token_class",
    "quantity",
    "unit_price",
    "unit",
    "cost_usd",
    "amount_full",
    "amount",
]


def _lines(statement: Statement) -> tuple[list[tuple[int | None, LineDraft]], dict]:
    if statement.status == Statement.Status.FINALIZED:
        rows = StatementLine.objects.filter(statement=statement).order_by("position")
        return [(row.pk, line_draft_of(row)) for row in rows], {
            "counts": statement.counts,
            "daily_spend": statement.daily_spend,
            "usage_cost_usd": statement.usage_cost_usd,
            "header": statement.header,
            "markup_pct": statement.markup_pct,
        }
    draft = statement_draft_compute(
        tenant=statement.tenant,
        start=statement.period_start,
        end=statement.period_end,
        markup_pct=statement.tenant.markup_pct,
        byok_fee=byok_request_fee(),
    )
    return [(None, line) for line in draft.lines], {
        "counts": draft.counts,
        "daily_spend": draft.daily_spend,
        "usage_cost_usd": draft.usage_cost_usd,
        "header": tenant_header(tenant=statement.tenant),
        "markup_pct": statement.tenant.markup_pct,
    }


def statement_document(*, statement: Statement) -> dict:
    """The statement's JSON: header, period, lines, totals, counts, checksum, credit notes."""
    lines, extra = _lines(statement)
    total = sum((line.amount for _, line in lines), Decimal(0))
    total_full = sum((line.amount_full for _, line in lines), Decimal(0))
    finalized = statement.status == Statement.Status.FINALIZED
    credits = CreditNote.objects.filter(statement=statement).order_by("sequence")
    return {
        "id": statement.pk,
        "number": statement.number,
        "tenant": statement.tenant.slug,
        "header": extra["header"],
        "month": statement.month,
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "grace_ends_at": statement.grace_ends_at.isoformat(),
        "currency": statement.currency,
        "status": statement.status,
        "draft": not finalized,
        "issued_at": statement.issued_at.isoformat() if statement.issued_at else None,
        "markup_pct": money_text(extra["markup_pct"]),
        "rounding": "each line half-even to cents; total = sum of rounded lines",
        "lines": [
            {"id": pk, "position": n, **line.as_dict()} for n, (pk, line) in enumerate(lines, 1)
        ],
        "usage_cost_usd": money_text(extra["usage_cost_usd"]),
        "total": money_text(money_cents(total)),
        "total_full_precision": money_text(total_full),
        "rounding_difference": money_text(total - total_full),
        "counts": extra["counts"],
        "daily_spend": extra["daily_spend"],
        "checksum_sha256": statement.checksum_sha256 if finalized else None,
        "credit_notes": [
            {"id": note.pk, "number": note.number, "total": money_text(note.total)}
            for note in credits
        ],
    }


def statement_csv(*, document: dict) -> bytes:
    """The statement's lines as CSV (one header row, one row per line)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for line in document["lines"]:
        writer.writerow(
            [
                safe_cell(document["number"] or "DRAFT"),
                document["month"],
                *(safe_cell(line[name]) for name in CSV_HEADER[2:]),
            ]
        )
    return out.getvalue().encode()


def daily_chart_png(*, days: list[dict], width: int = 900, height: int = 220) -> bytes:
    """Bars of each day's platform (dark) and BYOK (light) spend."""
    from PIL import Image, ImageDraw  # loaded on first use: see statement_pdf

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    values = [(Decimal(day["platform_usd"]), Decimal(day["byok_usd"])) for day in days] or [
        (Decimal(0), Decimal(0))
    ]
    top = max(max(p + b for p, b in values), Decimal("0.000001"))
    slot = (width - 20) / len(values)
    base = height - 10
    for n, (platform, byok) in enumerate(values):
        x0, x1 = 10 + n * slot + 1, 10 + (n + 1) * slot - 2
        h_platform = float(platform / top) * (height - 30)
        h_byok = float(byok / top) * (height - 30)
        if h_platform:
            draw.rectangle([x0, base - h_platform, x1, base], fill=(31, 78, 140))
        if h_byok:
            draw.rectangle(
                [x0, base - h_platform - h_byok, x1, base - h_platform], fill=(150, 180, 220)
            )
    draw.line([10, base, width - 10, base], fill=(120, 120, 120))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def statement_pdf(*, document: dict) -> bytes:
    """Imported here, not at the top: xhtml2pdf, with reportlab, pypdf and Pillow, is ~28 MiB of
    memory in every process that imports this module, the gateway's web workers included
    (through the admin), which never render a PDF (bench/README.md, "RSS per worker")."""
    from xhtml2pdf import pisa

    chart = base64.b64encode(daily_chart_png(days=document["daily_spend"])).decode()
    html = render_to_string(
        "billing/statement_pdf.html",
        {"doc": document, "chart_uri": f"data:image/png;base64,{chart}"},
    )
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if result.err:
        raise RuntimeError("The statement PDF could not be rendered.")
    return out.getvalue()
