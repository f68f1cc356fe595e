"""Send slots are wall-clock in the organisation's zone, so clock changes do not move a send."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from compose.schedule import DAYS, cron_weekday, next_slot

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 26, 9, 59, tzinfo=UTC), datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),  # GMT, same day
        (datetime(2026, 11, 26, 10, 0, tzinfo=UTC), datetime(2026, 12, 3, 10, 0, tzinfo=UTC)),  # strictly after
        (datetime(2027, 3, 25, 12, 0, tzinfo=UTC), datetime(2027, 4, 1, 9, 0, tzinfo=UTC)),  # BST: 10:00 is 09:00Z
        (datetime(2027, 10, 28, 9, 30, tzinfo=UTC), datetime(2027, 11, 4, 10, 0, tzinfo=UTC)),  # back to GMT
    ],
)
def test_next_thursday_ten_in_london(now: datetime, expected: datetime) -> None:
    slot = next_slot(now, day="thursday", at=time(10, 0), zone=LONDON)
    assert slot == expected
    assert slot.astimezone(LONDON).time() == time(10, 0)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot(datetime(2026, 11, 26), day="monday", at=time(9), zone=LONDON)


def test_day_names_follow_the_calendar_and_cron_numbers_them_from_sunday() -> None:
    monday = date(2026, 11, 23)
    for offset, day in enumerate(DAYS):
        when = monday + timedelta(days=offset)
        assert when.strftime("%A").lower() == day
        assert cron_weekday(day) == int(when.strftime("%w"))  # %w: Sunday is 0, as in cron
