"""How far a tenant's rollups reach: the final-day watermark a read may use, and how long raw
events are kept (the reads count purged days from the rollups, the purge deletes by it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from billing.models import ROLLUP_LAYOUT, RollupState

if TYPE_CHECKING:
    from datetime import date

    from billing.selectors.usage_filters import UsageFilters
    from tenants.models import Tenant


def rolled_through(*, tenant: Tenant) -> date | None:
    """The tenant's last local day whose daily rollup is final (None: none yet)."""
    return (
        RollupState.objects.filter(tenant=tenant).values_list("rolled_through", flat=True).first()
    )


def rollup_watermark(*, tenant: Tenant, filters: UsageFilters, group_by: str = "") -> date | None:
    """rolled_through, or None while the read needs buckets (status, tags, tag sets, end
    users) that the
    tenant's final days have not been rolled up with yet (the next rollup run re-rolls them)."""
    by_user = group_by == "user" or filters.end_user is not None
    if by_user and filters.tag:
        return None  # no rollup has both end users and tags: raw events answer
    row = RollupState.objects.filter(tenant=tenant).values_list("rolled_through", "layout").first()
    if row is None:
        return None
    watermark, layout = row
    if by_user:
        needs = ROLLUP_LAYOUT  # 3: end users
    elif group_by == "tag" and filters.tag:
        needs = 2  # tag sets
    elif group_by == "tag" or filters.tag or filters.status:
        needs = 1
    else:
        needs = 0
    return watermark if layout >= needs else None


def retention_days() -> int:
    """How many days raw usage events are kept (and rolled up) before the purge deletes them."""
    return int(getattr(settings, "TOLLGATE_USAGE_RETENTION_DAYS", 400))
