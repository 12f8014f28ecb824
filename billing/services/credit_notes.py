"""Credit notes: a numbered, immutable refund against a finalized statement, for an amount or
for some of its lines, with a reason. Credits never exceed what the statement (or the line)
billed, counting earlier credit notes; the statement row is locked while one is issued."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditNote, CreditNoteLine, Statement, StatementLine
from billing.services.statements import document_number_take
from core.errors import Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

ZERO = Decimal(0)


def _cents(value: Decimal, *, param: str) -> Decimal:
    if not value.is_finite() or value <= 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidRequest("Amounts must be positive, in cents.", extra={"param": param})
    return value


def _credited(**filters) -> Decimal:
    return CreditNoteLine.objects.filter(**filters).aggregate(s=Sum("amount"))["s"] or ZERO


def _line_credits(statement: Statement, lines: list[dict]) -> list[CreditNoteLine]:
    by_id = {line.pk: line for line in StatementLine.objects.filter(statement=statement)}
    out = []
    for n, item in enumerate(lines):
        line = by_id.get(item.get("line"))
        if line is None:
            raise InvalidRequest(
                "Each line must be a line of this statement.", extra={"param": f"lines[{n}]"}
            )
        remaining = line.amount - _credited(statement_line=line)
        amount = item.get("amount")
        amount = remaining if amount is None else _cents(amount, param=f"lines[{n}].amount")
        if amount <= 0 or amount > remaining:
            raise Conflict(
                f"Line {line.position} has {remaining} left to credit.",
                extra={"param": f"lines[{n}].amount"},
            )
        out.append(CreditNoteLine(statement_line=line, description=line.description, amount=amount))
    return out


def credit_note_issue(
    *,
    statement_id: int,
    reason: str,
    amount: Decimal | None = None,
    lines: list[dict] | None = None,
    user: AbstractBaseUser | None = None,
) -> CreditNote:
    """Issue a credit note for `amount`, or for `lines` ([{"line": id, "amount": optional}],
    a line's whole remaining amount by default)."""
    if not (reason or "").strip():
        raise InvalidRequest("A credit note needs a reason.", extra={"param": "reason"})
    if (amount is None) == (not lines):
        raise InvalidRequest("Give either an amount or lines.", extra={"param": "amount"})
    with transaction.atomic():
        statement = Statement.objects.select_for_update().filter(pk=statement_id).first()
        if statement is None:
            raise NotFound("No such statement.")
        if statement.status != Statement.Status.FINALIZED:
            raise Conflict("Only a finalized statement can be credited.")
        if lines:
            credit_lines = _line_credits(statement, lines)
        else:
            credit_lines = [
                CreditNoteLine(
                    description=f"Credit on {statement.number}",
                    amount=_cents(amount, param="amount"),  # type: ignore[arg-type]
                )
            ]
        total = sum((line.amount for line in credit_lines), ZERO)
        remaining = statement.total - _credited(credit_note__statement=statement)
        if total > remaining:
            raise Conflict(
                f"The statement has {remaining} left to credit.",
                extra={"param": "lines" if lines else "amount"},
            )
        sequence = document_number_take(name="credit_note")
        now = timezone.now()
        note = CreditNote.objects.create(
            tenant_id=statement.tenant_id,
            statement=statement,
            sequence=sequence,
            number=f"{settings.TOLLGATE_STATEMENT_PREFIX}-CN-{now:%Y-%m}-{sequence:06d}",
            reason=reason.strip()[:500],
            currency=statement.currency,
            total=total,
            issued_at=now,
            created_by=user,
        )
        for line in credit_lines:
            line.credit_note = note
        CreditNoteLine.objects.bulk_create(credit_lines)
    return note
