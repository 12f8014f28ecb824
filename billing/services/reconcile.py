"""Tie-out: every finalized statement of a month recomputed from the raw events.

For each statement, what was billed for its period (its own lines plus adjustments of it on
later statements) is compared per line with a fresh computation; any line whose quantity, cost
or amount differs is reported with the difference to the cent. Late usage that no later
statement has adjusted yet shows here too, until the next finalization books it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from billing.models import Statement
from billing.services.statements import booked_lines, lines_difference, statement_recompute
from core.errors import InvalidRequest
from core.money import money_cents

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class ReconcileDifference:
    statement: str
    tenant: str
    line: str
    quantity: int
    cost_usd: Decimal
    amount_full: Decimal
    amount: Decimal

    def describe(self) -> str:
        return (
            f"{self.statement} ({self.tenant}) {self.line}: quantity {self.quantity:+d}, "
            f"amount {money_cents(self.amount_full):+} USD (full precision "
            f"{self.amount_full:+}, cost {self.cost_usd:+})"
        )


def billing_reconcile(*, month: str) -> tuple[int, list[ReconcileDifference]]:
    """(statements checked, differences) for the month's finalized statements."""
    if not MONTH.match(month or ""):
        raise InvalidRequest("month must look like 2026-11.", extra={"param": "month"})
    statements = Statement.objects.filter(
        month=month, status=Statement.Status.FINALIZED
    ).select_related("tenant")
    differences, checked = [], 0
    for statement in statements.order_by("sequence"):
        checked += 1
        for line in lines_difference(
            booked=booked_lines(statement=statement),
            recomputed=statement_recompute(statement=statement).lines,
            month=statement.month,
        ):
            differences.append(
                ReconcileDifference(
                    statement=statement.number or "",
                    tenant=statement.tenant.slug,
                    line=line.description.removeprefix(f"Adjustment for {month}: "),
                    quantity=line.quantity,
                    cost_usd=line.cost_usd,
                    amount_full=line.amount_full,
                    amount=line.amount,
                )
            )
    return checked, differences
