"""The rollup rows that stand in for a usage read's raw events on final days: which rollup
table answers the read (daily, tag, tag-set or end-user), and its rows matching the filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.models import DailyRollup, DailyTagRollup, DailyTagSetRollup, DailyUserRollup
from billing.sql import json_list_contains

if TYPE_CHECKING:
    from datetime import date

    from django.db.models import QuerySet

    from billing.selectors.usage_filters import UsageFilters
    from tenants.models import Tenant


def rollup_rows(
    *,
    tenant: Tenant,
    start: date,
    end: date,
    filters: UsageFilters,
    by_tag: bool,
    by_user: bool = False,
) -> QuerySet:
    """Daily rollup rows of [start, end] matching the filters; tag rollup rows when grouping by
    tag or filtering on one; tag-set rollup rows for both; end-user rollup rows when grouping
    by end user or filtering on one (never with a tag: rollup_watermark sends those to events)."""
    if by_user or filters.end_user is not None:
        model = DailyUserRollup
    elif by_tag and filters.tag:
        model = DailyTagSetRollup
    elif by_tag or filters.tag:
        model = DailyTagRollup
    else:
        model = DailyRollup
    qs = model.objects.filter(
        tenant=tenant,
        day__gte=start,
        day__lte=end,
        **filters.lookups(config_field="config_ref", api_key_field="api_key_ref"),
    )
    if filters.tag and model is DailyTagSetRollup:
        qs = json_list_contains(qs, field="tags", value=filters.tag)
    elif filters.tag:
        qs = qs.filter(tag=filters.tag)
    return qs
