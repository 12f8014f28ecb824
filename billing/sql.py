"""SQL fragments shared by the raw-event reads and the rollups (one spelling per vendor)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import Case, DateField, Value, When
from django.db.models.expressions import RawSQL

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date, datetime

    from django.db.models import Expression, QuerySet


def tags_expanded(*, rows_sql: str, alias: str) -> tuple[str, str]:
    """A FROM source that joins each row of `rows_sql` (it has a `tags` column) with the elements
    of its tags array (none for a value that is not an array), and the expression of one tag.
    One expansion for the raw-event tag reads here and the tag rollup."""
    if connection.vendor == "postgresql":
        return (
            f"({rows_sql}) {alias} CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN "
            f"jsonb_typeof({alias}.tags) = 'array' THEN {alias}.tags ELSE '[]'::jsonb END) t(tag)",
            "t.tag",
        )
    return (
        f"({rows_sql}) {alias}, json_each("
        f"CASE WHEN json_type({alias}.tags) = 'array' THEN {alias}.tags ELSE '[]' END) t",
        "t.value",
    )


def json_list_contains(qs: QuerySet, *, field: str, value: str) -> QuerySet:
    """The rows of `qs` whose JSON array `field` holds `value`: PostgreSQL's jsonb containment,
    on SQLite (no containment lookup) a semi-join over json_each. Raw events and tag-set rollups
    filter on a tag this way."""
    if connection.vendor == "postgresql":
        return qs.filter(**{f"{field}__contains": [value]})
    table = qs.model._meta.db_table
    sql = f'SELECT t.id FROM "{table}" t, json_each(t."{field}") j WHERE j.value = %s'  # noqa: S608
    return qs.filter(id__in=RawSQL(sql, [value]))  # noqa: S611 (identifiers from the model)


def local_day(*, days: list[date], starts: list[datetime]) -> Expression:
    """created_at's local day among the sorted `days` (an event is known to fall in one of
    them), by binary search over their UTC `starts`."""

    def tree(lo: int, hi: int) -> Expression:
        if lo == hi:
            return Value(days[lo], output_field=DateField())
        mid = (lo + hi + 1) // 2
        return Case(
            When(created_at__lt=starts[mid], then=tree(lo, mid - 1)),
            default=tree(mid, hi),
            output_field=DateField(),
        )

    return tree(0, len(days) - 1)


# Memory a grouping of events may hash in (PostgreSQL's work_mem, per hash table).
GROUPING_WORK_MEM = "64MB"


@contextmanager
def hashed_grouping() -> Iterator[None]:
    """A transaction in which PostgreSQL groups events by hashing. Grouped by a bucket's many
    columns, the planner expects about one group per event and sorts every event on all of
    them (JSON arrays included) where the actual groups, a few per day, fit in memory: 2-5x
    slower. The settings end with the block; other backends only get the transaction."""
    with transaction.atomic():
        if connection.vendor != "postgresql":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{GROUPING_WORK_MEM}'")
            cursor.execute("SET LOCAL enable_sort = off")
        yield
        with connection.cursor() as cursor:
            cursor.execute("RESET work_mem")
            cursor.execute("RESET enable_sort")
