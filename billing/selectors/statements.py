"""Statement and credit note reads, scoped to a tenant (platform staff: tenant=None, all)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Sum

from billing.models import CreditNote, CreditNoteLine, Statement, StatementLine

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from tenants.models import Tenant


def statement_list(
    *, tenant: Tenant | None, month: str | None = None, status: str | None = None
) -> QuerySet[Statement]:
    qs = Statement.objects.select_related("tenant").order_by("-month", "tenant__slug", "-id")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if month:
        qs = qs.filter(month=month)
    if status:
        qs = qs.filter(status=status)
    return qs


def credit_note_list(*, tenant: Tenant | None) -> QuerySet[CreditNote]:
    qs = CreditNote.objects.select_related("tenant", "statement").prefetch_related("lines")
    return qs.filter(tenant=tenant) if tenant is not None else qs


def statement_lines_creditable(*, statement: Statement) -> list[tuple[StatementLine, Decimal]]:
    """The statement's lines, each with what earlier credit notes left to credit on it (the
    service checks again under the statement's lock; this is what a form offers)."""
    credited = dict(
        CreditNoteLine.objects.filter(
            credit_note__statement=statement, statement_line__isnull=False
        )
        .values("statement_line")
        .annotate(s=Sum("amount"))
        .values_list("statement_line", "s")
    )
    lines = StatementLine.objects.filter(statement=statement).order_by("position")
    return [(line, line.amount - credited.get(line.pk, Decimal(0))) for line in lines]
