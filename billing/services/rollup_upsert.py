"""The statement that writes one period's rollup buckets straight from an aggregation (SQL and
params): INSERT ... SELECT ... ON CONFLICT DO UPDATE, no row through Python, then the deletion of
the period's buckets the aggregation no longer has. PostgreSQL skips buckets whose measures did
not change; SQLite (no data-modifying CTEs) stamps and replaces every bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection
from django.utils import timezone

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper
    from django.db.models import Model

    from tenants.models import Tenant

# The measure columns of every rollup table, and the aliases the aggregations name them by (in
# the same order); a monthly aggregation names its request count "requests_".
MEASURES = [
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "billed_tokens",
    "cost_usd",
    "cache_write_tokens",
    "reasoning_tokens",
]
MEASURE_ALIASES = [
    "requests",
    "in_tokens",
    "out_tokens",
    "cache_tokens",
    "billed",
    "cost",
    "write_tokens",
    "think_tokens",
]


@dataclass(frozen=True)
class _PeriodUpsert:
    """One table's upsert of one (tenant, period): `upsert` leaves `{source}` for the
    aggregation (a subquery, or the CTE that also counts it)."""

    db_table: str
    tenant_id: int
    period_column: str
    period: object
    select_sql: str
    select_params: tuple
    upsert: str

    @property
    def table(self) -> str:
        return connection.ops.quote_name(self.db_table)

    @property
    def in_period(self) -> str:
        qn = connection.ops.quote_name
        return f"{qn('tenant_id')} = %s AND {qn(self.period_column)} = %s"


def upsert_select(
    model: type[Model],
    *,
    tenant: Tenant,
    period: tuple[str, object],
    select: tuple[str, tuple],
    dimensions: list[str],
    columns: list[str],
    replace: bool | None = None,
) -> tuple[int, int]:
    """Upsert a period's buckets straight from the aggregation `select` (SQL and params) in one
    INSERT ... SELECT ... ON CONFLICT DO UPDATE (no rows through Python), and delete the
    period's buckets the aggregation no longer has: by default only when it has rows (an empty
    one means the raw events were purged, and the rows are the record), or as `replace` says.
    Returns (buckets in the aggregation, buckets inserted or changed).

    PostgreSQL: a bucket whose measures did not change is not rewritten (re-rolling unchanged
    days writes nothing), and a count of the period's rows shows whether any is stale (a
    deleted config or key, a bucket of an older layout); only then is every bucket stamped
    and the unstamped ones deleted, which is what SQLite (no data-modifying CTEs to count the
    aggregation in the same statement) always does."""
    plan = _PeriodUpsert(
        db_table=model._meta.db_table,
        tenant_id=tenant.pk,
        period_column=period[0],
        period=period[1],
        select_sql=select[0],
        select_params=select[1],
        upsert=_upsert_sql(model, period_column=period[0], dimensions=dimensions, columns=columns),
    )
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            written = _upsert_stamped(cursor, plan=plan, replace=replace)
            return written, written
        buckets, written = _upsert_changed(cursor, plan=plan)
        if (buckets if replace is None else replace) and _period_rows(cursor, plan=plan) > buckets:
            written = _upsert_stamped(cursor, plan=plan, replace=replace)
    return buckets, written


def _upsert_sql(
    model: type[Model], *, period_column: str, dimensions: list[str], columns: list[str]
) -> str:
    """INSERT ... SELECT tenant, period, the aggregation's `columns` (measures 0 for none) and
    updated_at (three %s around the columns) FROM {source} ... ON CONFLICT DO UPDATE."""
    qn = connection.ops.quote_name
    picked = ", ".join(
        f"COALESCE(sub.{qn(col)}, 0)"
        if col in MEASURE_ALIASES or col == "requests_"
        else f"sub.{qn(col)}"
        for col in columns
    )
    targets = ", ".join(qn(col) for col in ["tenant_id", period_column, *dimensions, *MEASURES])
    unique = ", ".join(qn(col) for col in ["tenant_id", period_column, *dimensions])
    updates = ", ".join(f"{qn(col)} = excluded.{qn(col)}" for col in [*MEASURES, "updated_at"])
    # "WHERE 1 = 1" keeps SQLite from reading ON CONFLICT as a join constraint.
    return (
        f"INSERT INTO {qn(model._meta.db_table)} AS cur ({targets}, {qn('updated_at')}) "  # noqa: S608
        f"SELECT %s, %s, {picked}, %s FROM {{source}} sub WHERE 1 = 1 "
        f"ON CONFLICT ({unique}) DO UPDATE SET {updates}"
    )


def _upsert_stamped(cursor: CursorWrapper, *, plan: _PeriodUpsert, replace: bool | None) -> int:
    """Write every bucket with one fresh updated_at, then (when it wrote any, or as `replace`
    says) delete the period's buckets without that stamp; returns the buckets written."""
    qn = connection.ops.quote_name
    stamp = connection.ops.adapt_datetimefield_value(timezone.now())
    cursor.execute(
        plan.upsert.format(source=f"({plan.select_sql})"),
        [plan.tenant_id, plan.period, stamp, *plan.select_params],
    )
    written = max(cursor.rowcount, 0)
    if written if replace is None else replace:
        cursor.execute(
            f"DELETE FROM {plan.table} WHERE {plan.in_period} AND {qn('updated_at')} <> %s",  # noqa: S608
            [plan.tenant_id, plan.period, stamp],
        )
    return written


def _upsert_changed(cursor: CursorWrapper, *, plan: _PeriodUpsert) -> tuple[int, int]:
    """PostgreSQL: write only the buckets whose measures changed, counting the aggregation in
    the same statement; returns (buckets in the aggregation, buckets written)."""
    qn = connection.ops.quote_name
    current = ", ".join(f"cur.{qn(col)}" for col in MEASURES)
    incoming = ", ".join(f"excluded.{qn(col)}" for col in MEASURES)
    # The leading comment names the table where pg_stat_activity's cut-off query text
    # would not (the aggregation comes first).
    cursor.execute(
        f"/* {plan.db_table} */ WITH sub AS ({plan.select_sql}), "  # noqa: S608
        f"up AS ({plan.upsert.format(source='sub')} "
        f"WHERE ({current}) IS DISTINCT FROM ({incoming}) RETURNING 1) "
        "SELECT (SELECT COUNT(*) FROM sub), (SELECT COUNT(*) FROM up)",
        [*plan.select_params, plan.tenant_id, plan.period, timezone.now()],
    )
    buckets, written = cursor.fetchone()
    return buckets, written


def _period_rows(cursor: CursorWrapper, *, plan: _PeriodUpsert) -> int:
    """How many buckets the table holds for the period (more than the aggregation: stale)."""
    cursor.execute(
        f"SELECT COUNT(*) FROM {plan.table} WHERE {plan.in_period}",  # noqa: S608
        [plan.tenant_id, plan.period],
    )
    return cursor.fetchone()[0]


def upsert_days(
    model: type[Model], *, tenant: Tenant, select: str, dimensions: list[str], days_sql: str
) -> int:
    """Upsert the buckets of many local days at once from `select` (its columns: day, the
    table's `dimensions` and MEASURES, by those names), writing only buckets whose measures
    changed; when the days in `days_sql` (those with events) hold more buckets than `select`
    (a deleted config or key, an older layout), write every bucket with one stamp and delete
    the days' unstamped ones. Days outside `days_sql` (events purged) keep their rows.
    Returns the buckets inserted or changed (the upserts' own row counts)."""
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    upsert = _days_upsert_sql(model, dimensions=dimensions, select=select)
    in_days = f"{qn('tenant_id')} = %s AND {qn('day')} IN ({days_sql})"
    with connection.cursor() as cursor:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        cursor.execute(upsert + _changed_only(), [tenant.pk, now])
        written = max(cursor.rowcount, 0)
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {table} WHERE {in_days}), "  # noqa: S608
            f"(SELECT COUNT(*) FROM ({select}) sub)",
            [tenant.pk],
        )
        stored, fresh = cursor.fetchone()
        if stored > fresh:
            stamp = connection.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(upsert, [tenant.pk, stamp])
            written = max(cursor.rowcount, 0)
            cursor.execute(
                f"DELETE FROM {table} WHERE {in_days} AND {qn('updated_at')} <> %s",  # noqa: S608
                [tenant.pk, stamp],
            )
    return written


def _days_upsert_sql(model: type[Model], *, dimensions: list[str], select: str) -> str:
    """INSERT ... SELECT tenant (%s), day, dimensions, measures, updated_at (%s) FROM `select`
    ... ON CONFLICT DO UPDATE (every bucket; `_changed_only` narrows it)."""
    qn = connection.ops.quote_name
    keys = ["day", *dimensions]
    targets = ", ".join(qn(col) for col in [*keys, *MEASURES])
    picked = ", ".join(
        [*(f"sub.{qn(col)}" for col in keys), *(f"COALESCE(sub.{qn(col)}, 0)" for col in MEASURES)]
    )
    updates = ", ".join(f"{qn(col)} = excluded.{qn(col)}" for col in [*MEASURES, "updated_at"])
    unique = ", ".join(qn(col) for col in ["tenant_id", *keys])
    # "WHERE 1 = 1" keeps SQLite from reading ON CONFLICT as a join constraint.
    return (
        f"/* {model._meta.db_table} */ INSERT INTO {qn(model._meta.db_table)} AS cur "  # noqa: S608
        f"({qn('tenant_id')}, {targets}, {qn('updated_at')}) "
        f"SELECT %s, {picked}, %s FROM ({select}) sub WHERE 1 = 1 "
        f"ON CONFLICT ({unique}) DO UPDATE SET {updates}"
    )


def _changed_only() -> str:
    """The upsert's condition that leaves a bucket whose measures did not change alone."""
    qn = connection.ops.quote_name
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    return " WHERE " + " OR ".join(
        f"cur.{qn(col)} {distinct} excluded.{qn(col)}" for col in MEASURES
    )
