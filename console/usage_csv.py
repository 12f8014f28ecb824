"""CSV downloads of the usage explorer: the aggregate on screen, and the raw events behind it
(streamed row by row, never held in memory). Cells are spreadsheet-formula safe; costs exact."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

from billing.services.exports import safe_cell
from console.selectors.usage_explorer import group_label
from core.money import money_text

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from billing.models import UsageEvent

# New columns go after the first ones, so a reader of the older files keeps working.
AGGREGATE_COLUMNS = ["requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd"]
AGGREGATE_EXTRA_COLUMNS = ["cache_write_tokens", "reasoning_tokens"]
EVENT_COLUMNS = [
    "request_id",
    "created_at",
    "api_key",
    "config",
    "requested_model",
    "model",
    "provider",
    "key_source",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_ms",
    "status",
    "fallback",
    "tags",
    "cache_write_tokens",
    "reasoning_tokens",
    "end_user",
]


class _Line:
    """A file-like sink that hands back what csv.writer wrote, one line at a time."""

    def write(self, value: str) -> str:
        return value


def _writer():
    return csv.writer(_Line())


def aggregate_csv(*, data: dict, group_by: str) -> Iterator[str]:
    writer = _writer()
    yield writer.writerow([group_by, *AGGREGATE_COLUMNS, *AGGREGATE_EXTRA_COLUMNS])
    for row in data["results"]:
        yield writer.writerow(_aggregate_line(group_label(row, group_by), row))
    yield writer.writerow(_aggregate_line("total", data["totals"]))


def _aggregate_line(label: str, row: dict) -> list[str]:
    return [
        safe_cell(label),
        *(str(row[c]) for c in AGGREGATE_COLUMNS[:-1]),
        money_text(row["cost_usd"], min_places=2),
        *(str(row[c]) for c in AGGREGATE_EXTRA_COLUMNS),
    ]


def events_csv(*, events: Iterable[UsageEvent], tz) -> Iterator[str]:
    writer = _writer()
    yield writer.writerow(EVENT_COLUMNS)
    for e in events:
        yield writer.writerow(
            [
                safe_cell(e.request_id),
                e.created_at.astimezone(tz).isoformat(),
                e.api_key_id or "",
                safe_cell(e.config.name) if e.config_id else "",
                safe_cell(e.requested_model),
                safe_cell(e.model),
                safe_cell(e.provider),
                e.key_source,
                e.input_tokens,
                e.output_tokens,
                e.cached_tokens,
                money_text(e.cost_usd, min_places=2),
                e.latency_ms,
                e.status,
                "true" if e.fallback else "false",
                safe_cell(";".join(str(t) for t in (e.tags or []))),
                e.cache_write_tokens,
                e.reasoning_tokens,
                safe_cell(e.end_user),
            ]
        )
