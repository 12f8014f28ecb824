"""A tenant-month's statement lines, computed from the raw usage events (docs/billing.md).

Per served model, key source and price in force (a price change mid-month splits the month):
one line per token class (uncached input, cached read, cache write, output, reasoning) with
quantity x unit price per 1M tokens at full precision, and a `metering` line for whatever the
events' stamped costs differ from that (per-event rounding, one-hour cache writes, usage of an
unpriced model), so the usage lines' costs add up to the events' costs exactly. Platform-key
lines are billable; BYOK lines are informational (billable 0), plus an optional per-request fee.
Markup applies to platform spend only. Every line is rounded half-even to cents; the total is
the sum of rounded lines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from itertools import pairwise
from typing import TYPE_CHECKING

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from billing.models import NOT_BILLED_TOKEN_STATUSES, UsageEvent
from core.money import money_cents, money_text
from llm.models import LLMModel, LLMModelPrice
from llm.services.model_prices import PriceQuote, model_price_at

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from tenants.models import Tenant

ZERO = Decimal(0)
PER_MILLION = Decimal(1_000_000)
TOKEN_CLASSES = ("uncached_input", "cached_read", "cache_write", "output", "reasoning")
_CLASS_LABEL = {
    "uncached_input": "input (uncached)",
    "cached_read": "cached input read",
    "cache_write": "cache write",
    "output": "output",
    "reasoning": "reasoning (billed as output)",
}
_SUMS = {
    "inp": Sum("input_tokens", filter=~Q(status__in=NOT_BILLED_TOKEN_STATUSES)),
    "cached": Sum("cached_tokens", filter=~Q(status__in=NOT_BILLED_TOKEN_STATUSES)),
    "write": Sum("cache_write_tokens", filter=~Q(status__in=NOT_BILLED_TOKEN_STATUSES)),
    "out": Sum("output_tokens", filter=~Q(status__in=NOT_BILLED_TOKEN_STATUSES)),
    "reasoning": Sum("reasoning_tokens", filter=~Q(status__in=NOT_BILLED_TOKEN_STATUSES)),
    "cost": Sum("cost_usd"),
}


@dataclass(frozen=True)
class LineDraft:
    kind: str  # a StatementLine.Kind value
    description: str
    model: str = ""
    provider: str = ""
    key_source: str = ""
    token_class: str = ""
    quantity: int = 0
    unit_price: Decimal | None = None
    unit: str = ""
    cost_usd: Decimal = ZERO  # what the usage cost (BYOK too), full precision
    amount_full: Decimal = ZERO  # what is billed, full precision
    amount: Decimal = ZERO  # amount_full rounded half-even to cents
    adjusts_month: str = ""

    @property
    def key(self) -> tuple:
        """What identifies a line across a recomputation (adjustments diff on it)."""
        price = None if self.unit_price is None else self.unit_price.normalize()
        return (self.kind, self.model, self.provider, self.key_source, self.token_class, price)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "adjusts_month": self.adjusts_month,
            "description": self.description,
            "model": self.model,
            "provider": self.provider,
            "key_source": self.key_source,
            "token_class": self.token_class,
            "quantity": self.quantity,
            "unit_price": money_text(self.unit_price),
            "unit": self.unit,
            "cost_usd": money_text(self.cost_usd),
            "amount_full": money_text(self.amount_full),
            "amount": money_text(self.amount),
        }


@dataclass
class StatementDraft:
    lines: list[LineDraft] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    daily_spend: list[dict] = field(default_factory=list)
    usage_cost_usd: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def total_full(self) -> Decimal:
        return sum((line.amount_full for line in self.lines), ZERO)


def line_rounded(line: LineDraft) -> LineDraft:
    return replace(line, amount=money_cents(line.amount_full))


@dataclass(frozen=True)
class _Segment:
    start: datetime
    end: datetime
    quote: PriceQuote | None


def _resolve_model(*, model: str, provider: str) -> LLMModel | None:
    model_id = model.split("/", 1)[1] if provider and model.startswith(f"{provider}/") else model
    return (
        LLMModel.objects.filter(provider__slug=provider, model_id=model_id)
        .select_related("provider")
        .first()
    )


def _segments(*, llm_model: LLMModel | None, start: datetime, end: datetime) -> list[_Segment]:
    """The window cut where the model's price changed inside it."""
    if llm_model is None:
        return [_Segment(start, end, None)]
    changes = list(
        LLMModelPrice.objects.filter(
            model=llm_model, effective_from__gt=start, effective_from__lt=end
        )
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .distinct()
    )
    bounds = [start, *changes, end]
    return [_Segment(a, b, model_price_at(model=llm_model, at=a)) for a, b in pairwise(bounds)]


def _class_prices(quote: PriceQuote | None) -> dict[str, Decimal | None]:
    """Unit price per 1M of each token class (the fallbacks of llm.services.token_cost)."""
    if quote is None or not quote.is_priced:
        return dict.fromkeys(TOKEN_CLASSES)
    inp, out = quote.input_price_per_1m, quote.output_price_per_1m
    return {
        "uncached_input": inp,
        "cached_read": quote.cached_input_price_per_1m
        if quote.cached_input_price_per_1m is not None
        else inp,
        "cache_write": quote.cache_write_price_per_1m
        if quote.cache_write_price_per_1m is not None
        else inp,
        "output": out,
        "reasoning": out,
    }


def _group_lines(*, model: str, provider: str, key_source: str, sums: dict, prices: dict):
    """The token-class lines and the metering line of one (model, key source, price) group."""
    inp, cached, write = sums["inp"] or 0, sums["cached"] or 0, sums["write"] or 0
    out, reasoning = sums["out"] or 0, sums["reasoning"] or 0
    quantities = {
        "uncached_input": max(inp - cached - write, 0),
        "cached_read": cached,
        "cache_write": write,
        "output": max(out - reasoning, 0),
        "reasoning": reasoning,
    }
    billable = key_source == UsageEvent.KeySource.PLATFORM
    label = f"{model or '(no model)'} ({key_source})"
    lines, priced = [], ZERO
    with localcontext() as ctx:
        ctx.prec = 60
        for token_class in TOKEN_CLASSES:
            quantity, price = quantities[token_class], prices[token_class]
            if not quantity:
                continue
            cost = ZERO if price is None else quantity * price / PER_MILLION
            priced += cost
            lines.append(
                LineDraft(
                    kind="usage",
                    description=f"{label}: {_CLASS_LABEL[token_class]}",
                    model=model,
                    provider=provider,
                    key_source=key_source,
                    token_class=token_class,
                    quantity=quantity,
                    unit_price=price,
                    unit="per_1m",
                    cost_usd=cost,
                    amount_full=cost if billable else ZERO,
                )
            )
        rest = (sums["cost"] or ZERO) - priced
    if rest:
        lines.append(
            LineDraft(
                kind="metering",
                description=f"{label}: metering difference (event costs vs. unit prices)",
                model=model,
                provider=provider,
                key_source=key_source,
                cost_usd=rest,
                amount_full=rest if billable else ZERO,
            )
        )
    return lines


def _usage_lines(events, *, start: datetime, end: datetime) -> list[LineDraft]:
    lines: list[LineDraft] = []
    pairs = events.values_list("model", "provider").distinct().order_by("model", "provider")
    for model, provider in pairs:
        llm_model = _resolve_model(model=model, provider=provider)
        for segment in _segments(llm_model=llm_model, start=start, end=end):
            prices = _class_prices(segment.quote)
            rows = (
                events.filter(
                    model=model,
                    provider=provider,
                    created_at__gte=segment.start,
                    created_at__lt=segment.end,
                )
                .values("key_source")
                .annotate(**_SUMS)
                .order_by("key_source")
            )
            for row in rows:
                lines += _group_lines(
                    model=model,
                    provider=provider,
                    key_source=row["key_source"],
                    sums=row,
                    prices=prices,
                )
    return lines


def _counts(events) -> dict[str, int]:
    by_status = dict(events.values_list("status").annotate(n=Count("id")).order_by())
    total = sum(by_status.values())
    rejected = by_status.get(UsageEvent.Status.REJECTED, 0)
    return {
        "usage_events": total,
        "requests": total - rejected,
        "cache_hits": by_status.get(UsageEvent.Status.CACHE_HIT, 0),
        "errors": by_status.get(UsageEvent.Status.ERROR, 0),
        # A replay is answered from the idempotency store and writes no usage event; a
        # re-delivered event is dropped on its unique request id: neither is ever billed.
        "idempotent_replays_not_billed": 0,
        "events_rejected": rejected,
    }


def _byok_fee_line(events, *, fee: Decimal) -> LineDraft | None:
    if not fee:
        return None
    served = events.filter(key_source=UsageEvent.KeySource.BYOK).exclude(
        status__in=NOT_BILLED_TOKEN_STATUSES
    )
    count = served.count()
    if not count:
        return None
    return LineDraft(
        kind="byok_fee",
        description="Platform fee per BYOK request",
        key_source=UsageEvent.KeySource.BYOK,
        quantity=count,
        unit_price=fee,
        unit="request",
        amount_full=count * fee,
    )


def _markup_line(lines: list[LineDraft], *, markup_pct: Decimal) -> LineDraft | None:
    platform = sum(
        (line.amount_full for line in lines if line.key_source == UsageEvent.KeySource.PLATFORM),
        ZERO,
    )
    if not markup_pct or not platform:
        return None
    return LineDraft(
        kind="markup",
        description=f"Markup {money_text(markup_pct)} % on platform-key usage",
        key_source=UsageEvent.KeySource.PLATFORM,
        unit_price=markup_pct,
        unit="percent",
        amount_full=platform * markup_pct / 100,
    )


def daily_spend(events, *, tz: ZoneInfo, start: datetime, end: datetime) -> list[dict]:
    """Cost per local day of the period, platform and BYOK apart (the PDF's chart)."""
    by_day: dict = defaultdict(lambda: {"platform": ZERO, "byok": ZERO})
    rows = (
        events.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "key_source")
        .annotate(cost=Sum("cost_usd"))
        .order_by()
    )
    for row in rows:
        by_day[row["day"]][row["key_source"]] += row["cost"] or ZERO
    day, last = start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date()
    out = []
    while day <= last:
        spend = by_day.get(day, {"platform": ZERO, "byok": ZERO})
        out.append(
            {
                "day": day.isoformat(),
                "platform_usd": money_text(spend["platform"]),
                "byok_usd": money_text(spend["byok"]),
            }
        )
        day += timedelta(days=1)
    return out


def statement_draft_compute(
    *,
    tenant: Tenant,
    start: datetime,
    end: datetime,
    markup_pct: Decimal,
    byok_fee: Decimal,
    with_daily: bool = True,
) -> StatementDraft:
    """The period's lines, counts and daily spend from the raw events in [start, end)."""
    events = UsageEvent.objects.filter(tenant=tenant, created_at__gte=start, created_at__lt=end)
    lines = _usage_lines(events, start=start, end=end)
    usage_cost = sum((line.cost_usd for line in lines), ZERO)
    extra = [
        _markup_line(lines, markup_pct=markup_pct),
        _byok_fee_line(events, fee=byok_fee),
    ]
    lines += [line for line in extra if line is not None]
    return StatementDraft(
        lines=[line_rounded(line) for line in lines],
        counts=_counts(events),
        daily_spend=daily_spend(events, tz=tenant.tzinfo, start=start, end=end)
        if with_daily
        else [],
        usage_cost_usd=usage_cost,
    )
