"""Credit notes: numbered, for an amount or lines, never more than was billed, immutable."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import CreditNote
from billing.models.statements import ImmutableRecordError
from billing.services.credit_notes import credit_note_issue
from billing.services.statements import statement_ensure, statement_finalize
from billing.tests.services.statement_support import usage_event
from core.errors import Conflict, InvalidRequest


@pytest.fixture
def statement(tenant, priced_catalog):
    usage_event(tenant, at=datetime(2026, 11, 3, tzinfo=UTC), output_tokens=10_000_000)  # 6.00
    usage_event(
        tenant, at=datetime(2026, 11, 3, tzinfo=UTC), model="openai/gpt-4.1", input_tokens=10**6
    )
    draft = statement_ensure(tenant=tenant, month="2026-11")
    return statement_finalize(statement_id=draft.pk, now=datetime(2026, 12, 20, tzinfo=UTC))


def test_credit_a_line_then_an_amount(statement):
    output = statement.lines.get(model="openai/gpt-4o-mini", token_class="output")
    first = credit_note_issue(
        statement_id=statement.pk, reason="Wrong model", lines=[{"line": output.pk}]
    )
    assert first.number == f"TG-CN-{first.issued_at:%Y-%m}-000001"
    assert first.total == output.amount == Decimal("6.00")
    assert first.lines.get().statement_line == output
    with pytest.raises(Conflict):  # the line is fully credited
        credit_note_issue(statement_id=statement.pk, reason="again", lines=[{"line": output.pk}])
    second = credit_note_issue(statement_id=statement.pk, reason="Outage", amount=Decimal("0.01"))
    assert second.sequence == 2 and second.total == Decimal("0.01")
    with pytest.raises(Conflict):  # more than is left on the statement
        credit_note_issue(statement_id=statement.pk, reason="x", amount=statement.total - 6)
    assert CreditNote.objects.count() == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"reason": "", "amount": Decimal("1")},
        {"reason": "r"},
        {"reason": "r", "amount": Decimal("-1")},
        {"reason": "r", "amount": Decimal("0.001")},
        {"reason": "r", "lines": [{"line": 0}]},
    ],
)
def test_bad_credit_notes_are_refused(statement, kwargs):
    with pytest.raises(InvalidRequest):
        credit_note_issue(statement_id=statement.pk, **kwargs)
    assert not CreditNote.objects.exists()


def test_only_finalized_statements_and_no_rewrites(statement, tenant):
    draft = statement_ensure(tenant=tenant, month="2026-12")
    with pytest.raises(Conflict):
        credit_note_issue(statement_id=draft.pk, reason="r", amount=Decimal("1"))
    note = credit_note_issue(statement_id=statement.pk, reason="r", amount=Decimal("1"))
    note.reason = "changed"
    with pytest.raises(ImmutableRecordError):
        note.save()
