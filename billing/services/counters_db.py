"""Budget counters in the database: the embedded default, and the fallback when Redis is down.

A BudgetCounter row per counter (the same key as in Redis), locked (select_for_update; on
SQLite a first write takes the database lock) around check-and-hold; holds are BudgetHold rows
that stop counting when they expire. Rows go stale while Redis serves, so a row older than
DB_RESEED_SECONDS is first raised to the database truth (never lowered).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from billing.models import BudgetCounter, BudgetHold
from billing.services.counter_plans import COUNTER_GRACE
from billing.services.spend_truth import plan_truth
from core.db import connection_refresh

if TYPE_CHECKING:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from billing.services.counter_plans import CounterPlan

DB_RESEED_SECONDS = 60


@dataclass
class DbOutcome:
    ok: bool
    over_index: int = -1
    over_what: str = ""


def _lock_counters(keys: list[str]) -> dict[str, BudgetCounter]:
    if connection.vendor == "sqlite":
        # A write first: SQLite takes its database write lock now, before we read.
        BudgetCounter.objects.filter(key__in=keys).update(spent_micros=F("spent_micros"))
        rows = BudgetCounter.objects.filter(key__in=keys)
    else:
        rows = BudgetCounter.objects.select_for_update().filter(key__in=keys).order_by("key")
    return {row.key: row for row in rows}


def _ensure_counters(plans: list[CounterPlan]) -> None:
    existing = set(
        BudgetCounter.objects.filter(key__in=[p.key for p in plans]).values_list("key", flat=True)
    )
    for plan in plans:
        if plan.key not in existing:
            BudgetCounter.objects.get_or_create(
                key=plan.key,
                defaults={
                    "tenant_id": plan.tenant_id,
                    "expires_at": plan.window.end + COUNTER_GRACE,
                },
            )


def _refresh_counter(row: BudgetCounter, plan: CounterPlan, tz: ZoneInfo, now: datetime) -> None:
    """Raise a stale counter to the database truth (rows go stale while Redis serves)."""
    if row.seeded_at and row.seeded_at > now - timedelta(seconds=DB_RESEED_SECONDS):
        return
    micros, tokens = plan_truth(plan=plan, tz=tz)
    row.spent_micros = max(row.spent_micros, micros)
    row.spent_tokens = max(row.spent_tokens, tokens)
    row.seeded_at = now
    row.save(update_fields=["spent_micros", "spent_tokens", "seeded_at"])


def _lock_fresh_counters(
    plans: list[CounterPlan], tz: ZoneInfo, now: datetime
) -> dict[str, BudgetCounter]:
    """The plans' counter rows, locked in the caller's transaction and raised to the database
    truth where stale: what a reservation checks and a read reports."""
    rows = _lock_counters([plan.key for plan in plans])
    for plan in plans:
        _refresh_counter(rows[plan.key], plan, tz, now)
    return rows


def db_reserve(
    *,
    plans: list[CounterPlan],
    tz: ZoneInfo,
    reservation_id: str,
    micros: int,
    tokens: int,
    ttl_seconds: float,
) -> DbOutcome:
    connection_refresh()  # the gateway's executor threads: a dropped connection is replaced
    _ensure_counters(plans)
    now = timezone.now()
    with transaction.atomic():
        rows = _lock_fresh_counters(plans, tz, now)
        held = {
            item["counter_id"]: item
            for item in BudgetHold.objects.filter(
                counter_id__in=[row.pk for row in rows.values()], expires_at__gt=now
            )
            .values("counter_id")
            .annotate(m=Sum("micros"), t=Sum("tokens"))
        }
        for index, plan in enumerate(plans):
            row = rows[plan.key]
            hold = held.get(row.pk, {})
            used_m = row.spent_micros + (hold.get("m") or 0)
            used_t = row.spent_tokens + (hold.get("t") or 0)
            if plan.limit_micros is not None and (
                used_m + micros > plan.limit_micros or used_m >= plan.limit_micros
            ):
                return DbOutcome(ok=False, over_index=index, over_what="usd")
            if plan.limit_tokens is not None and (
                used_t + tokens > plan.limit_tokens or used_t >= plan.limit_tokens
            ):
                return DbOutcome(ok=False, over_index=index, over_what="tokens")
        expires_at = now + timedelta(seconds=ttl_seconds)
        BudgetHold.objects.bulk_create(
            [
                BudgetHold(
                    reservation_id=reservation_id,
                    counter=rows[plan.key],
                    micros=micros,
                    tokens=tokens,
                    expires_at=expires_at,
                )
                for plan in plans
            ]
        )
    return DbOutcome(ok=True)


def db_settle(*, keys: list[str], reservation_id: str, micros: int, tokens: int) -> None:
    connection_refresh()
    if not micros and not tokens:
        BudgetHold.objects.filter(reservation_id=reservation_id).delete()
        return
    with transaction.atomic():
        rows = _lock_counters(sorted(keys))
        BudgetHold.objects.filter(reservation_id=reservation_id).delete()
        BudgetCounter.objects.filter(pk__in=[row.pk for row in rows.values()]).update(
            spent_micros=F("spent_micros") + micros, spent_tokens=F("spent_tokens") + tokens
        )


def db_counter_values(*, plans: list[CounterPlan], tz: ZoneInfo) -> list[tuple[int, int]]:
    """Settled spend per counter (refreshing stale rows from the database truth)."""
    connection_refresh()
    _ensure_counters(plans)
    now = timezone.now()
    with transaction.atomic():
        rows = _lock_fresh_counters(plans, tz, now)
    return [(rows[p.key].spent_micros, rows[p.key].spent_tokens) for p in plans]


def db_holds_take_over(
    *, holds: list[tuple[str, list[CounterPlan], ZoneInfo, int, int, datetime]]
) -> None:
    """Hold open reservations on the database counters (id, plans, tz, micros, tokens,
    expiry): what Redis held for them when it became unreachable (budget_failover.py). Their
    counters are raised to the database truth first, so what they settle adds to it."""
    if not holds:
        return
    connection_refresh()
    _ensure_counters([plan for _, plans, *_ in holds for plan in plans])
    now = timezone.now()
    with transaction.atomic():
        rows = _lock_counters(sorted({plan.key for _, plans, *_ in holds for plan in plans}))
        for _, plans, tz, *_ in holds:
            for plan in plans:
                _refresh_counter(rows[plan.key], plan, tz, now)
        BudgetHold.objects.bulk_create(
            [
                BudgetHold(
                    reservation_id=reservation_id,
                    counter=rows[plan.key],
                    micros=micros if plan.limit_micros is not None else 0,
                    tokens=tokens if plan.limit_tokens is not None else 0,
                    expires_at=expires_at,
                )
                for reservation_id, plans, _tz, micros, tokens, expires_at in holds
                for plan in plans
            ]
        )


def db_holds_drop(*, reservation_ids: list[str]) -> None:
    """The reservations are held on Redis again."""
    if reservation_ids:
        connection_refresh()
        BudgetHold.objects.filter(reservation_id__in=reservation_ids).delete()


def db_counters_mark_stale() -> None:
    """Every current database counter is raised to the database truth on its next use: they
    did not follow what Redis counted meanwhile."""
    connection_refresh()
    BudgetCounter.objects.filter(expires_at__gt=timezone.now()).update(seeded_at=None)


def db_counters_used_since(*, since: datetime) -> list[tuple[int, str, int, int, int]]:
    """(tenant id, key, micros, tokens, expiry timestamp) of the counters refreshed since
    `since`: those the database counted while Redis was away."""
    connection_refresh()
    rows = BudgetCounter.objects.filter(seeded_at__gte=since).values_list(
        "tenant_id", "key", "spent_micros", "spent_tokens", "expires_at"
    )
    return [(t, key, m, tokens, int(exp.timestamp())) for t, key, m, tokens, exp in rows]
