"""Statements: lines per model x token class, rounding, markup, BYOK, periods, finalization,
numbering, late usage -> adjustment, immutability."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum
from django.test import override_settings

from billing.models import Statement, StatementLine, UsageEvent
from billing.models.statements import ImmutableRecordError
from billing.services.statements import (
    byok_request_fee,
    statement_checksum,
    statement_ensure,
    statement_finalize,
    statements_advance,
)
from billing.tests.services.statement_support import usage_event
from core.errors import Conflict

NOV = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
AFTER = datetime(2026, 12, 20, tzinfo=UTC)


def _finalize(tenant, month="2026-11", now=AFTER, **kwargs) -> Statement:
    statement = statement_ensure(tenant=tenant, month=month)
    return statement_finalize(statement_id=statement.pk, now=now, **kwargs)


def test_lines_per_model_and_token_class_at_unit_prices(tenant, priced_catalog):
    usage_event(
        tenant,
        at=NOV,
        model="anthropic/claude-haiku-4-5",
        input_tokens=10_000,
        cached_tokens=2_000,
        cache_write_tokens=3_000,
        output_tokens=4_000,
        reasoning_tokens=1_000,
    )
    statement = _finalize(tenant)
    lines = {
        line.token_class: line for line in statement.lines.filter(kind=StatementLine.Kind.USAGE)
    }
    assert {k: (v.quantity, v.unit_price) for k, v in lines.items()} == {
        "uncached_input": (5_000, Decimal("1")),
        "cached_read": (2_000, Decimal("0.1")),
        "cache_write": (3_000, Decimal("1.25")),
        "output": (3_000, Decimal("5")),
        "reasoning": (1_000, Decimal("5")),
    }
    assert lines["cache_write"].amount_full == Decimal("0.00375")
    assert lines["cache_write"].amount == Decimal("0.00")  # half-even to cents
    assert statement.usage_cost_usd == UsageEvent.objects.get().cost_usd
    assert statement.total == sum(line.amount for line in statement.lines.all())
    assert statement.rounding_difference == statement.total - statement.total_full


def test_markup_on_platform_spend_only_and_byok_informational(tenant, priced_catalog):
    tenant.markup_pct = Decimal("10")
    tenant.save()
    usage_event(tenant, at=NOV, input_tokens=1_000_000, output_tokens=0)  # 0.15
    usage_event(tenant, at=NOV, key_source="byok", input_tokens=2_000_000, output_tokens=0)
    with override_settings(TOLLGATE_BYOK_REQUEST_FEE_USD="0.002"):
        statement = _finalize(tenant)
    by_kind = {}
    for line in statement.lines.all():
        by_kind.setdefault((line.kind, line.key_source), []).append(line)
    (markup,) = by_kind[("markup", "platform")]
    assert markup.amount_full == Decimal("0.015")
    (byok,) = by_kind[("usage", "byok")]
    assert byok.cost_usd == Decimal("0.3") and byok.amount_full == 0 and byok.amount == 0
    (fee,) = by_kind[("byok_fee", "byok")]
    assert (fee.quantity, fee.amount_full) == (1, Decimal("0.002"))
    assert statement.total == Decimal("0.15") + Decimal("0.02") + Decimal("0.00")
    assert statement.total_full == Decimal("0.15") + Decimal("0.015") + Decimal("0.002")


def test_counts_tie_out(tenant, priced_catalog):
    usage_event(tenant, at=NOV)
    usage_event(tenant, at=NOV, status="cache_hit")
    usage_event(tenant, at=NOV, status="rejected", input_tokens=0, output_tokens=0)
    usage_event(tenant, at=NOV, status="error", cost_usd=Decimal("0.0001"))
    statement = _finalize(tenant)
    assert statement.counts == {
        "usage_events": 4,
        "requests": 3,
        "cache_hits": 1,
        "errors": 1,
        "idempotent_replays_not_billed": 0,
        "events_rejected": 1,
    }
    assert statement.usage_cost_usd == UsageEvent.objects.aggregate(s=Sum("cost_usd"))["s"]


def test_the_period_is_the_tenants_local_month(tenant, priced_catalog):
    # Acme is in Europe/Berlin: 31 Oct 23:30 UTC is 1 Nov locally, 30 Nov 23:30 UTC is December.
    usage_event(tenant, at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC), output_tokens=1)
    usage_event(tenant, at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC), output_tokens=2)
    statement = _finalize(tenant)
    assert statement.counts["usage_events"] == 1
    assert statement.lines.get(token_class="output").quantity == 1
    assert len(statement.daily_spend) == 30


def test_finalize_is_idempotent_and_refused_before_the_month_ends(tenant, priced_catalog):
    usage_event(tenant, at=NOV)
    statement = statement_ensure(tenant=tenant, month="2026-11")
    with pytest.raises(Conflict):
        statement_finalize(statement_id=statement.pk, now=datetime(2026, 11, 20, tzinfo=UTC))
    first = statement_finalize(statement_id=statement.pk, now=AFTER)
    again = statement_finalize(statement_id=statement.pk, now=AFTER + timedelta(days=1))
    assert first.number == again.number == "TG-2026-11-000001"
    assert StatementLine.objects.filter(statement=first).count() == first.lines.count()
    assert again.issued_at == AFTER


def test_beat_pass_closes_then_finalizes_after_the_grace_window(tenant, priced_catalog):
    Statement.objects.all().delete()
    tenant.created_at = datetime(2026, 1, 1, tzinfo=UTC)
    tenant.save()
    usage_event(tenant, at=NOV)
    end = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # Berlin midnight
    assert statements_advance(now=end + timedelta(hours=1)) == []
    november = Statement.objects.get(tenant=tenant, month="2026-11")
    assert november.status == Statement.Status.CLOSING
    assert Statement.objects.get(tenant=tenant, month="2026-12").status == Statement.Status.OPEN
    assert statements_advance(now=end + timedelta(hours=47)) == []
    assert statements_advance(now=end + timedelta(hours=48)) == [november.pk]
    november.refresh_from_db()
    assert november.status == Statement.Status.FINALIZED and november.number


@override_settings(TOLLGATE_STATEMENT_PREFIX="ACME")
def test_numbers_have_no_gaps_across_tenants(tenant, other_tenant, priced_catalog):
    for who in (tenant, other_tenant):
        usage_event(who, at=NOV)
    refused = statement_ensure(tenant=tenant, month="2026-12")
    with pytest.raises(Conflict):  # a refused finalization takes no number
        statement_finalize(statement_id=refused.pk, now=AFTER)
    numbers = [
        _finalize(tenant).number,
        _finalize(other_tenant).number,
        _finalize(tenant, month="2026-10").number,
    ]
    assert numbers == ["ACME-2026-11-000001", "ACME-2026-11-000002", "ACME-2026-10-000003"]


def test_late_event_lands_on_the_next_statement_and_the_finalized_one_never_changes(
    tenant, priced_catalog
):
    usage_event(tenant, at=NOV, output_tokens=1_000_000)  # 0.60 + 0.00015
    november = _finalize(tenant)
    checksum, total = november.checksum_sha256, november.total
    assert checksum == statement_checksum(statement=november)

    usage_event(tenant, at=NOV, input_tokens=0, output_tokens=500_000)  # late: 0.30
    usage_event(tenant, at=datetime(2026, 12, 5, tzinfo=UTC), input_tokens=0, output_tokens=10)
    december = _finalize(tenant, month="2026-12", now=datetime(2027, 1, 10, tzinfo=UTC))

    (adjustment,) = december.lines.filter(adjusts_month="2026-11")
    assert adjustment.description.startswith("Adjustment for 2026-11: ")
    assert (adjustment.token_class, adjustment.quantity) == ("output", 500_000)
    assert adjustment.amount == Decimal("0.30")
    november.refresh_from_db()
    assert statement_checksum(statement=november) == checksum == november.checksum_sha256
    assert november.total == total

    # Nothing further is late: the next statement adjusts nothing.
    january = _finalize(tenant, month="2027-01", now=datetime(2027, 2, 10, tzinfo=UTC))
    assert not january.lines.filter(adjusts_month__gt="").exists()


def test_finalized_records_refuse_changes(tenant, priced_catalog):
    usage_event(tenant, at=NOV)
    statement = _finalize(tenant)
    statement.total = Decimal("0")
    with pytest.raises(ImmutableRecordError):
        statement.save()
    line = statement.lines.first()
    line.amount = Decimal("99")
    with pytest.raises(ImmutableRecordError):
        line.save()


@pytest.mark.parametrize("value", ["-1", "lots", "NaN"])
def test_a_bad_byok_fee_setting_is_a_configuration_error(value):
    with (
        override_settings(TOLLGATE_BYOK_REQUEST_FEE_USD=value),
        pytest.raises(ImproperlyConfigured),
    ):
        byok_request_fee()
