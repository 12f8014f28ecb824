"""SQL fragments shared by the raw-event reads and the rollups (one spelling per vendor)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection
from django.db.models.expressions import RawSQL

if TYPE_CHECKING:
    from django.db.models import QuerySet


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
