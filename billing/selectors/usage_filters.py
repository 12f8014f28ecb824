"""What a usage read can filter on: one set of filters for raw events, rollups and aggregates."""

from dataclasses import dataclass


@dataclass(frozen=True)
class UsageFilters:
    model: str | None = None
    provider: str | None = None
    tag: str | None = None
    status: str | None = None
    config_id: int | None = None
    api_key_id: int | None = None
