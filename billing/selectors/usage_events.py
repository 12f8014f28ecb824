"""Raw usage event reads: a tenant's events, filtered, newest first, and their count (which a
paginator asks for) taken from the rollups for final days."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet, Sum

from billing.models import UsageEvent
from billing.selectors.rollup_rows import rollup_rows
from billing.selectors.rollup_state import retention_days, rollup_watermark
from billing.selectors.usage_filters import UsageFilters
from billing.sql import json_list_contains
from core.calendar import local_midnight

if TYPE_CHECKING:
    from datetime import date

    from tenants.models import Tenant


def local_range(*, tenant: Tenant, start: date, end: date) -> tuple[datetime, datetime]:
    """[local midnight of start, local midnight after end) in the tenant's time zone."""
    tz = tenant.tzinfo
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def usage_event_list(
    *,
    tenant: Tenant,
    start: datetime | None = None,
    end: datetime | None = None,
    filters: UsageFilters | None = None,
) -> QuerySet[UsageEvent]:
    """The tenant's raw events, newest first (a stable order: created_at, then id)."""
    qs = UsageEvent.objects.filter(tenant=tenant)
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lt=end)
    f = filters or UsageFilters()
    qs = qs.filter(**f.lookups(config_field="config_id", api_key_field="api_key_id"))
    if f.tag:
        qs = json_list_contains(qs, field="tags", value=f.tag)
    qs = qs.select_related("config", "api_key").order_by("-created_at", "-id")
    return _CountedFromRollups.wrap(qs, tenant=tenant, start=start, end=end, filters=f)


class _CountedFromRollups(QuerySet):
    """The events list, whose count() (a paginator's) adds the final days' request counts from
    the daily (or, with a tag filter, tag) rollups to a count of the events after them, instead
    of counting every event. Days retention may have purged are counted from the events, like
    the page rows."""

    _count_args: dict | None = None

    @classmethod
    def wrap(cls, qs: QuerySet, **count_args) -> QuerySet:
        wrapped = cls(model=qs.model, query=qs.query.chain(), using=qs._db, hints=qs._hints)
        wrapped._count_args = count_args
        return wrapped

    def _clone(self):
        clone = super()._clone()
        clone._count_args = self._count_args
        return clone

    def count(self) -> int:
        if self._result_cache is None and self._count_args is not None:
            fast = _fast_event_count(base=self, **self._count_args)
            if fast is not None:
                return fast
        return super().count()


def _fast_event_count(
    *,
    base: QuerySet,
    tenant: Tenant,
    start: datetime | None,
    end: datetime | None,
    filters: UsageFilters,
) -> int | None:
    """None when the range does not fall on local midnights (then rollups cannot help)."""
    tz = tenant.tzinfo
    for bound in (start, end):
        if bound is not None and bound.astimezone(tz).time() != time.min:
            return None
    watermark = rollup_watermark(tenant=tenant, filters=filters)
    if watermark is None:
        return None
    first = start.astimezone(tz).date() if start is not None else None
    horizon = datetime.now(tz).date() - timedelta(days=retention_days() - 1)
    first = max(first, horizon) if first is not None else horizon
    last = watermark
    if end is not None:
        last = min(last, end.astimezone(tz).date() - timedelta(days=1))
    if last < first:
        return None
    rolled = rollup_rows(tenant=tenant, start=first, end=last, filters=filters, by_tag=False)
    counted = rolled.aggregate(n=Sum("requests"))["n"] or 0
    lo, hi = local_midnight(day=first, tz=tz), local_midnight(day=last + timedelta(days=1), tz=tz)
    rest = QuerySet(model=base.model, query=base.query.chain(), using=base._db).filter(
        Q(created_at__lt=lo) | Q(created_at__gte=hi)
    )
    return counted + rest.count()
