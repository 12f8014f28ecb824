"""A budget's status: its current period and what its scope spent there, from the same truth
the budget counters are rebuilt from (final rollups, then events: billing/services/
spend_truth.py's split, read for many budgets in two queries). Read by the budgets API and the
admin web app.

A user budget's figures are one end user's, from the events (as its counters): the user it
names; for a "*" budget the user asked for (`end_user`, the API's `?user=`), else the user who
spent most in the period. `top_users` lists the period's biggest spenders under it (at most
TOP_USERS)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDate

from billing.models import (
    NOT_BILLED_TOKEN_STATUSES,
    Budget,
    DailyRollup,
    RollupState,
    UsageEvent,
)
from billing.models.budgets import EACH_END_USER
from core.calendar import local_midnight, period_window
from core.money import money_quantize

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from core.calendar import PeriodWindow


@dataclass(frozen=True)
class BudgetStatus:
    """A budget's current period (local midnights of the tenant, as aware datetimes) and what
    its scope spent in it: the same truth the counters are rebuilt from (rollups + events)."""

    period_start: datetime
    period_end: datetime
    spent_usd: Decimal
    spent_tokens: int
    remaining_usd: Decimal | None
    remaining_tokens: int | None
    used_pct: Decimal | None
    end_user: str | None = None  # user budgets: whose figures these are (None: nobody spent)
    top_users: tuple[dict, ...] = ()  # user budgets: {end_user, spent_usd, spent_tokens, used_pct}


TOP_USERS = 10


def _pct(used: Decimal | int, limit: Decimal | int | None) -> Decimal | None:
    if limit is None:
        return None
    if limit == 0:
        return Decimal(100) if used == 0 else Decimal(1000)
    return (Decimal(used) * 100 / Decimal(limit)).quantize(Decimal("0.01"))


def budget_status(*, budget: Budget, at: datetime | None = None) -> BudgetStatus:
    """Spent, remaining and percent used (the larger of the cost and the token share, as the
    alerts count) of the period containing `at` (default now)."""
    return budget_statuses(budgets=[budget], at=at)[budget.pk]


def budget_statuses(
    *,
    budgets: Iterable[Budget],
    at: datetime | None = None,
    spend_rows: list[tuple] | None = None,
    end_user: str | None = None,
) -> dict:
    """budget id -> BudgetStatus, for many budgets at once: per tenant one rollup query and
    one event query cover every budget's period (spend_truth's split, summed per scope).

    `spend_rows` (one tenant's budgets only): rows the caller already read, `(local day,
    config id or 0, key id or 0, cost, billed tokens)` covering every budget's period so far
    (the dashboard reads them for its charts anyway)."""
    by_tenant: dict[int, list[Budget]] = defaultdict(list)
    for budget in budgets:
        by_tenant[budget.tenant_id].append(budget)
    if spend_rows is not None and len(by_tenant) > 1:
        raise ValueError("spend_rows are one tenant's")
    out = {}
    for group in by_tenant.values():
        tenant_wide = [b for b in group if b.scope != Budget.Scope.USER]
        if tenant_wide:
            out.update(_tenant_statuses(tenant_wide, at=at, rows=spend_rows))
        for budget in group:
            if budget.scope == Budget.Scope.USER:
                out[budget.pk] = _user_status(budget, at=at, end_user=end_user)
    return out


def _user_status(budget: Budget, *, at: datetime | None, end_user: str | None) -> BudgetStatus:
    tz = budget.tenant.tzinfo
    window = period_window(period=budget.period, tz=tz, at=at)
    events = UsageEvent.objects.filter(
        tenant_id=budget.tenant_id, created_at__gte=window.start, created_at__lt=window.end
    ).exclude(end_user="")
    who = budget.end_user if budget.end_user != EACH_END_USER else end_user
    if who:
        events = events.filter(end_user=who)
    billed = ~Q(status__in=NOT_BILLED_TOKEN_STATUSES)
    rows = list(
        events.values("end_user")
        .annotate(
            cost=Sum("cost_usd"), tokens=Sum(F("input_tokens") + F("output_tokens"), filter=billed)
        )
        .order_by("-cost", "-tokens", "end_user")
        .values_list("end_user", "cost", "tokens")[:TOP_USERS]
    )
    top = [
        (user, _status(budget, window=window, spent=cost or 0, tokens=int(tokens or 0), tz=tz))
        for user, cost, tokens in rows
    ]
    shown = (
        top[0] if top else (who, _status(budget, window=window, spent=Decimal(0), tokens=0, tz=tz))
    )
    listed = tuple(
        {
            "end_user": user,
            "spent_usd": status.spent_usd,
            "spent_tokens": status.spent_tokens,
            "used_pct": status.used_pct,
        }
        for user, status in top
    )
    return dataclasses.replace(shown[1], end_user=shown[0], top_users=listed)


def _tenant_statuses(
    budgets: list[Budget], *, at: datetime | None, rows: list[tuple] | None
) -> dict:
    tenant = budgets[0].tenant
    tz = tenant.tzinfo
    windows = {b.pk: period_window(period=b.period, tz=tz, at=at) for b in budgets}
    if rows is None:
        first = min(w.start_day for w in windows.values())
        end_day = max(w.end_day for w in windows.values())  # exclusive
        rows = _spend_rows(tenant_id=tenant.pk, tz=tz, first=first, end_day=end_day)
    out = {}
    for budget in budgets:
        window = windows[budget.pk]
        scope_id = _scope_id(budget)
        spent, tokens = Decimal(0), 0
        for day, config_ref, key_ref, cost, billed in rows:
            if not window.start_day <= day < window.end_day:
                continue
            if budget.scope == Budget.Scope.CONFIG and config_ref != scope_id:
                continue
            if budget.scope == Budget.Scope.KEY and key_ref != scope_id:
                continue
            spent += cost or 0
            tokens += billed or 0
        out[budget.pk] = _status(budget, window=window, spent=spent, tokens=int(tokens), tz=tz)
    return out


def _scope_id(budget: Budget) -> int | None:
    if budget.scope == Budget.Scope.CONFIG:
        return budget.config_id
    if budget.scope == Budget.Scope.KEY:
        return budget.api_key_id
    return None


def _spend_rows(*, tenant_id: int, tz: ZoneInfo, first: date, end_day: date) -> list[tuple]:
    """(local day, config id, key id, cost, billed tokens) of [first, end_day): final days from
    the daily rollups, the days after the rollup watermark from the events (as spend_truth)."""
    watermark = (
        RollupState.objects.filter(tenant_id=tenant_id)
        .values_list("rolled_through", flat=True)
        .first()
    )
    rows: list[tuple] = []
    events_from = first
    if watermark is not None and watermark >= first:
        last = min(watermark, end_day - timedelta(days=1))
        rows += (
            DailyRollup.objects.filter(tenant_id=tenant_id, day__gte=first, day__lte=last)
            .values("day", "config_ref", "api_key_ref")
            .annotate(cost=Sum("cost_usd"), tokens=Sum("billed_tokens"))
            .order_by()
            .values_list("day", "config_ref", "api_key_ref", "cost", "tokens")
        )
        events_from = last + timedelta(days=1)
    if events_from < end_day:
        billed = ~Q(status__in=NOT_BILLED_TOKEN_STATUSES)
        rows += (
            UsageEvent.objects.filter(
                tenant_id=tenant_id,
                created_at__gte=local_midnight(day=events_from, tz=tz),
                created_at__lt=local_midnight(day=end_day, tz=tz),
            )
            .annotate(local_day=TruncDate("created_at", tzinfo=tz))
            .values("local_day", "config_id", "api_key_id")
            .annotate(
                cost=Sum("cost_usd"),
                tokens=Sum(F("input_tokens") + F("output_tokens"), filter=billed),
            )
            .order_by()
            .values_list("local_day", "config_id", "api_key_id", "cost", "tokens")
        )
    return rows


def _status(
    budget: Budget, *, window: PeriodWindow, spent: Decimal, tokens: int, tz: ZoneInfo
) -> BudgetStatus:
    spent = money_quantize(spent)
    shares = [
        p
        for p in (_pct(spent, budget.limit_usd), _pct(tokens, budget.limit_tokens))
        if p is not None
    ]
    has_limit = budget.limit_usd is not None or budget.limit_tokens is not None
    return BudgetStatus(
        period_start=window.start.astimezone(tz),
        period_end=window.end.astimezone(tz),
        spent_usd=spent,
        spent_tokens=tokens,
        remaining_usd=(
            None if budget.limit_usd is None else money_quantize(max(budget.limit_usd - spent, 0))
        ),
        remaining_tokens=(
            None if budget.limit_tokens is None else max(budget.limit_tokens - tokens, 0)
        ),
        used_pct=max(shares, default=Decimal("0.00")) if has_limit else None,
    )
