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
    end_user: str | None = None  # events and the end-user rollups

    def lookups(self, *, config_field: str, api_key_field: str) -> dict[str, object]:
        """Every filter but the tag as ORM lookups (a tag is a JSON list on events and tag-set
        rollups, a column on tag rollups). Events name the config and key by foreign key,
        rollups by plain `*_ref` integers: the caller names those two fields."""
        lookups: dict[str, object] = {}
        if self.model:
            lookups["model"] = self.model
        if self.provider:
            lookups["provider"] = self.provider
        if self.status:
            lookups["status"] = self.status
        if self.config_id is not None:
            lookups[config_field] = self.config_id
        if self.api_key_id is not None:
            lookups[api_key_field] = self.api_key_id
        if self.end_user is not None:
            lookups["end_user"] = self.end_user
        return lookups
