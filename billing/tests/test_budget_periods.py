"""Budget periods follow the tenant's local day and month (DST, month ends, 29 February)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.calendar import month_window, period_window

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "key"),
    [
        (utc(2026, 11, 21, 22, 59, 59), "2026-11-21"),  # 23:59:59 in Berlin
        (utc(2026, 11, 21, 23, 0, 0), "2026-11-22"),  # local midnight
    ],
)
def test_daily_period_turns_at_local_midnight(at, key):
    window = period_window(period="daily", tz=BERLIN, at=at)
    assert window.key == key
    assert window.start.astimezone(BERLIN).hour == 0


def test_month_end_in_new_york():
    before = period_window(period="monthly", tz=NEW_YORK, at=utc(2026, 12, 1, 4, 59))
    after = period_window(period="monthly", tz=NEW_YORK, at=utc(2026, 12, 1, 5, 0))
    assert (before.key, after.key) == ("2026-11", "2026-12")
    assert before.end == after.start == utc(2026, 12, 1, 5, 0)


def test_29_february():
    window = period_window(period="daily", tz=BERLIN, at=utc(2028, 2, 29, 12))
    assert window.key == "2028-02-29"
    assert window.end_day == date(2028, 3, 1)
    month = period_window(period="monthly", tz=BERLIN, at=utc(2028, 2, 29, 23, 30))
    assert month.key == "2028-03"  # 00:30 on 1 March in Berlin
    feb = month_window(month="2028-02", tz=BERLIN)
    assert (feb.end_day - feb.start_day).days == 29


def test_dst_days_are_23_and_25_hours_long():
    spring = period_window(period="daily", tz=BERLIN, at=utc(2026, 3, 29, 12))
    autumn = period_window(period="daily", tz=BERLIN, at=utc(2026, 10, 25, 12))
    assert (spring.end - spring.start).total_seconds() == 23 * 3600
    assert (autumn.end - autumn.start).total_seconds() == 25 * 3600
    # The instant after the autumn change is still the same local day.
    assert period_window(period="daily", tz=BERLIN, at=utc(2026, 10, 25, 1, 30)).key == "2026-10-25"


def test_month_with_dst_change_spans_local_midnights():
    october = month_window(month="2026-10", tz=BERLIN)
    assert october.start == utc(2026, 9, 30, 22)  # CEST
    assert october.end == utc(2026, 10, 31, 23)  # CET
