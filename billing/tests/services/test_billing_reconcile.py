"""billing_reconcile MONTH: zero difference on generated data; a tampered event is named."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.models import UsageEvent
from billing.services.reconcile import billing_reconcile
from billing.services.statements import statement_ensure, statement_finalize
from billing.tests.services.statement_support import usage_event

NOV = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture
def finalized(tenant, other_tenant, priced_catalog):
    for who in (tenant, other_tenant):
        usage_event(who, at=NOV, model="openai/gpt-4.1", input_tokens=123_457, output_tokens=999)
        usage_event(who, at=NOV, model="anthropic/claude-haiku-4-5", key_source="byok")
    for who in (tenant, other_tenant):
        statement = statement_ensure(tenant=who, month="2026-11")
        statement_finalize(statement_id=statement.pk, now=datetime(2026, 12, 20, tzinfo=UTC))


def test_generated_data_ties_out(finalized, capsys):
    checked, differences = billing_reconcile(month="2026-11")
    assert (checked, differences) == (2, [])
    call_command("billing_reconcile", "2026-11")
    assert "2 statement(s) checked, 0 difference(s)." in capsys.readouterr().out


def test_a_tampered_event_is_named_to_the_cent(finalized, tenant, capsys):
    event = UsageEvent.objects.get(tenant=tenant, model="openai/gpt-4.1")
    UsageEvent.objects.filter(pk=event.pk).update(cost_usd=event.cost_usd + Decimal("0.5"))
    with pytest.raises(CommandError) as raised:
        call_command("billing_reconcile", "2026-11")
    assert raised.value.returncode == 1
    out = capsys.readouterr().out
    (line,) = [row for row in out.splitlines() if row.startswith("TG-")]
    assert "(acme) openai/gpt-4.1 (platform): metering difference" in line
    assert "amount +0.50 USD" in line
    assert "1 difference(s)" in out


def test_a_month_that_is_not_one_is_refused():
    with pytest.raises(CommandError, match="month must look like"):
        call_command("billing_reconcile", "November")
