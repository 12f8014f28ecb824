"""SQL fragments shared by the raw-event reads and the rollups (one spelling per vendor)."""

from django.db import connection


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
