"""The billing calendar: days and months in a tenant's time zone, as aware UTC instants.

Budgets, rollups, exports and the dashboard all cut time here, so a period means the same
instant everywhere.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone


@dataclass(frozen=True)
class PeriodWindow:
    key: str  # "2026-11-22" or "2026-11"
    start_day: date
    end_day: date  # exclusive
    start: datetime  # aware UTC
    end: datetime  # exclusive


def local_midnight(*, day: date, tz: ZoneInfo) -> datetime:
    """The instant a local day starts (zoneinfo resolves a DST gap at midnight forwards)."""
    naive = datetime(day.year, day.month, day.day)
    return naive.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def period_window(*, period: str, tz: ZoneInfo, at: datetime | None = None) -> PeriodWindow:
    """The daily or monthly (`period`) period containing `at` in the tenant's time zone."""
    local_day = (at or timezone.now()).astimezone(tz).date()
    if period == "daily":
        start_day, end_day = local_day, local_day + timedelta(days=1)
        key = start_day.isoformat()
    else:
        start_day = month_start(local_day)
        end_day = next_month(start_day)
        key = start_day.strftime("%Y-%m")
    return PeriodWindow(
        key=key,
        start_day=start_day,
        end_day=end_day,
        start=local_midnight(day=start_day, tz=tz),
        end=local_midnight(day=end_day, tz=tz),
    )


def month_window(*, month: str, tz: ZoneInfo) -> PeriodWindow:
    year, mon = (int(part) for part in month.split("-"))
    start_day = date(year, mon, 1)
    return period_window(period="monthly", tz=tz, at=local_midnight(day=start_day, tz=tz))
