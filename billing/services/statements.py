"""The billing period workflow: open -> closing -> finalized, and the statement it issues.

- A tenant-month's `Statement` row is created open; when the tenant's local month has ended it
  is closing (late usage may still arrive) until `TOLLGATE_BILLING_GRACE_HOURS` later, when
  the beat task finalizes it; an operator may finalize it any time after the month's end.
- Finalizing locks the row (`SELECT ... FOR UPDATE`), computes the lines from the raw events,
  adds adjustment lines for earlier finalized periods whose events changed, takes the next
  number from the platform's counter row (locked in the same transaction, so a rolled-back
  finalization gives its number back: no gaps), and writes everything at once. A second,
  concurrent attempt waits for the lock and returns the statement the first one issued; the
  conditional status update is the guard where the database has no row locks (SQLite).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.models import (
    NOT_BILLED_TOKEN_STATUSES,
    DocumentSequence,
    Statement,
    StatementLine,
    UsageEvent,
)
from billing.services.statement_lines import (
    ZERO,
    LineDraft,
    StatementDraft,
    statement_draft_compute,
)
from core.calendar import month_window
from core.errors import Conflict
from core.money import money_quantize
from tenants.models import Tenant

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

ADJUSTMENT_LOOKBACK = 12  # earlier finalized periods re-checked for late usage
INPUT_CLASSES = ("uncached_input", "cached_read", "cache_write")
OUTPUT_CLASSES = ("output", "reasoning")


class _LostRace(Exception):
    pass


def byok_request_fee() -> Decimal:
    """TOLLGATE_BYOK_REQUEST_FEE_USD at the stored precision (a statement keeps it, so that a
    recomputation bills the same fee); a negative or malformed value is a configuration error."""
    raw = str(getattr(settings, "TOLLGATE_BYOK_REQUEST_FEE_USD", 0) or 0)
    try:
        fee = money_quantize(Decimal(raw))
    except InvalidOperation:
        fee = None
    if fee is None or not fee.is_finite() or fee < 0:
        raise ImproperlyConfigured("TOLLGATE_BYOK_REQUEST_FEE_USD must be a non-negative amount.")
    return fee


def statement_ensure(*, tenant: Tenant, month: str) -> Statement:
    """The tenant-month's statement row (created open if missing)."""
    window = month_window(month=month, tz=tenant.tzinfo)
    grace = timedelta(hours=settings.TOLLGATE_BILLING_GRACE_HOURS)
    statement, _ = Statement.objects.get_or_create(
        tenant=tenant,
        month=month,
        defaults={
            "period_start": window.start,
            "period_end": window.end,
            "grace_ends_at": window.end + grace,
        },
    )
    return statement


def statements_advance(*, now: datetime | None = None) -> list[int]:
    """The beat task's pass: make sure every active tenant has this and last month's rows,
    mark ended months closing, finalize those past their grace window (oldest first, so
    adjustments flow forward). Returns the ids finalized."""
    now = now or timezone.now()
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk"):
        local = now.astimezone(ZoneInfo(tenant.timezone)).date().replace(day=1)
        previous = (local - timedelta(days=1)).strftime("%Y-%m")
        if tenant.created_at.astimezone(tenant.tzinfo).date() < local:
            statement_ensure(tenant=tenant, month=previous)
        statement_ensure(tenant=tenant, month=local.strftime("%Y-%m"))
    Statement.objects.filter(status=Statement.Status.OPEN, period_end__lte=now).update(
        status=Statement.Status.CLOSING
    )
    due = Statement.objects.filter(
        status=Statement.Status.CLOSING, grace_ends_at__lte=now
    ).order_by("month", "tenant_id")
    finalized = []
    for statement_id in due.values_list("pk", flat=True):
        statement_finalize(statement_id=statement_id, now=now)
        finalized.append(statement_id)
    return finalized


def statement_finalize(
    *,
    statement_id: int,
    user: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> Statement:
    """Issue the statement (idempotent: a finalized one is returned as it is)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            statement = (
                Statement.objects.select_for_update().select_related("tenant").get(pk=statement_id)
            )
            if statement.status == Statement.Status.FINALIZED:
                return statement
            if now < statement.period_end:
                raise Conflict(f"The period {statement.month} has not ended yet.")
            _issue(statement, user=user, now=now)
    except _LostRace:
        pass
    return Statement.objects.select_related("tenant").get(pk=statement_id)


def _issue(statement: Statement, *, user: AbstractBaseUser | None, now: datetime) -> None:
    tenant = statement.tenant
    markup, fee = tenant.markup_pct, byok_request_fee()
    draft = statement_draft_compute(
        tenant=tenant,
        start=statement.period_start,
        end=statement.period_end,
        markup_pct=markup,
        byok_fee=fee,
    )
    lines = draft.lines + _adjustments(tenant=tenant, month=statement.month)
    sequence = document_number_take(name="statement")
    StatementLine.objects.bulk_create(
        StatementLine(statement=statement, position=n, **_line_fields(line))
        for n, line in enumerate(lines, start=1)
    )
    total = sum((line.amount for line in lines), ZERO)
    total_full = sum((line.amount_full for line in lines), ZERO)
    updated = Statement.objects.filter(
        pk=statement.pk, status__in=[Statement.Status.OPEN, Statement.Status.CLOSING]
    ).update(
        status=Statement.Status.FINALIZED,
        sequence=sequence,
        number=f"{settings.TOLLGATE_STATEMENT_PREFIX}-{statement.month}-{sequence:06d}",
        issued_at=now,
        finalized_by=user,
        header=tenant_header(tenant=tenant),
        markup_pct=markup,
        byok_request_fee_usd=fee,
        counts=draft.counts,
        daily_spend=draft.daily_spend,
        usage_cost_usd=draft.usage_cost_usd,
        total=total,
        total_full=total_full,
        rounding_difference=total - total_full,
        checksum_sha256=statement_checksum(statement=statement),
    )
    if updated != 1:
        raise _LostRace


def document_number_take(*, name: str) -> int:
    """The next number of a document kind; the counter row stays locked until the caller's
    transaction ends, so numbers are issued in order and a rollback returns the number."""
    DocumentSequence.objects.get_or_create(name=name)
    counter = DocumentSequence.objects.select_for_update().get(name=name)
    counter.last += 1
    counter.save(update_fields=["last"])
    return counter.last


def tenant_header(*, tenant: Tenant) -> dict:
    fields = (
        "slug",
        "name",
        "legal_name",
        "billing_address_line1",
        "billing_address_line2",
        "billing_postal_code",
        "billing_city",
        "billing_region",
        "billing_country",
        "tax_id",
        "timezone",
    )
    return {name: getattr(tenant, name) for name in fields}


def _line_fields(line: LineDraft) -> dict:
    return {
        "kind": line.kind,
        "adjusts_month": line.adjusts_month,
        "description": line.description[:300],
        "model": line.model,
        "provider": line.provider,
        "key_source": line.key_source,
        "token_class": line.token_class,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "unit": line.unit,
        "cost_usd": line.cost_usd,
        "amount_full": line.amount_full,
        "amount": line.amount,
    }


def line_draft_of(line: StatementLine) -> LineDraft:
    return LineDraft(**_line_fields(line))  # type: ignore[arg-type]


def statement_checksum(*, statement: Statement) -> str:
    """SHA-256 of the stored line items as canonical JSON (position order, exact decimals)."""
    rows = [
        {"position": line.position, **line_draft_of(line).as_dict()}
        for line in StatementLine.objects.filter(statement=statement).order_by("position")
    ]
    text = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def statement_recompute(*, statement: Statement) -> StatementDraft:
    """The statement's own lines again from today's raw events, at its markup and fee."""
    return statement_draft_compute(
        tenant=statement.tenant,
        start=statement.period_start,
        end=statement.period_end,
        markup_pct=statement.markup_pct,
        byok_fee=statement.byok_request_fee_usd,
        with_daily=False,
    )


def booked_lines(*, statement: Statement) -> list[LineDraft]:
    """What has been billed for the statement's period: its own lines and every adjustment of
    it on later statements."""
    own = StatementLine.objects.filter(statement=statement, adjusts_month="")
    later = StatementLine.objects.filter(
        statement__tenant_id=statement.tenant_id, adjusts_month=statement.month
    )
    return [line_draft_of(line) for line in [*own, *later]]


def lines_difference(
    *, booked: list[LineDraft], recomputed: list[LineDraft], month: str
) -> list[LineDraft]:
    """Adjustment lines (naming `month`) that bring `booked` to `recomputed`, per line key."""
    sums: dict[tuple, list] = defaultdict(lambda: [None, 0, ZERO, ZERO, ZERO])
    for sign, lines in ((-1, booked), (1, recomputed)):
        for line in lines:
            entry = sums[line.key]
            if entry[0] is None or sign == 1:
                entry[0] = line
            entry[1] += sign * line.quantity
            entry[2] += sign * line.cost_usd
            entry[3] += sign * line.amount_full
            entry[4] += sign * line.amount
    out = []
    for line, quantity, cost, amount_full, amount in sums.values():
        if not (quantity or cost or amount_full or amount):
            continue
        description = line.description.removeprefix(f"Adjustment for {line.adjusts_month}: ")
        out.append(
            LineDraft(
                kind=line.kind,
                description=f"Adjustment for {month}: {description}",
                model=line.model,
                provider=line.provider,
                key_source=line.key_source,
                token_class=line.token_class,
                quantity=quantity,
                unit_price=line.unit_price,
                unit=line.unit,
                cost_usd=cost,
                amount_full=amount_full,
                amount=amount,
                adjusts_month=month,
            )
        )
    return out


def _totals_match(*, statement: Statement, booked: list[LineDraft]) -> bool:
    """One aggregate over the period's events against what was booked: cost, input and output
    tokens and BYOK fee requests all equal means nothing arrived late (the full line-by-line
    recomputation runs only when one differs; billing_reconcile always runs it)."""
    events = UsageEvent.objects.filter(
        tenant_id=statement.tenant_id,
        created_at__gte=statement.period_start,
        created_at__lt=statement.period_end,
    )
    billed = ~Q(status__in=NOT_BILLED_TOKEN_STATUSES)
    sums = events.aggregate(
        cost=Sum("cost_usd"),
        inp=Sum("input_tokens", filter=billed),
        out=Sum("output_tokens", filter=billed),
        byok=Count("id", filter=billed & Q(key_source=UsageEvent.KeySource.BYOK)),
    )
    usage = [line for line in booked if line.kind in ("usage", "metering")]
    inputs = sum(line.quantity for line in usage if line.token_class in INPUT_CLASSES)
    outputs = sum(line.quantity for line in usage if line.token_class in OUTPUT_CLASSES)
    fees = sum(line.quantity for line in booked if line.kind == "byok_fee")
    return (
        (sums["cost"] or ZERO) == sum((line.cost_usd for line in usage), ZERO)
        and (sums["inp"] or 0) == inputs
        and (sums["out"] or 0) == outputs
        and (not statement.byok_request_fee_usd or sums["byok"] == fees)
    )


def _adjustments(*, tenant: Tenant, month: str) -> list[LineDraft]:
    earlier = Statement.objects.filter(
        tenant=tenant, status=Statement.Status.FINALIZED, month__lt=month
    ).order_by("-month")[:ADJUSTMENT_LOOKBACK]
    out: list[LineDraft] = []
    for statement in reversed(list(earlier.select_related("tenant"))):
        booked = booked_lines(statement=statement)
        if _totals_match(statement=statement, booked=booked):
            continue
        out += lines_difference(
            booked=booked,
            recomputed=statement_recompute(statement=statement).lines,
            month=statement.month,
        )
    return out
