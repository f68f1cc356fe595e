"""When things happen: send and build slots in the organisation's zone, stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: The days of the week as `syndicate.toml` names them, in `date.weekday()` order (Monday is 0).
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def cron_weekday(day: str) -> int:
    """`day` (one of `DAYS`) as cron numbers it: Sunday is 0, Monday 1, ..., Saturday 6."""
    return (DAYS.index(day) + 1) % 7


def next_slot(now: datetime, *, day: str, at: time, zone: ZoneInfo) -> datetime:
    """The next `day` at wall-clock `at` in `zone` strictly after `now`, in UTC.

    Wall-clock in the zone, so a 10:00 send stays at 10:00 London time across clock changes.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(zone)
    target = DAYS.index(day)
    for offset in range(2):
        candidate_date = local.date() + timedelta(days=(target - local.weekday()) % 7 + 7 * offset)
        candidate = datetime.combine(candidate_date, at, tzinfo=zone)
        if candidate.astimezone(UTC) > now:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a weekly slot always exists within 2 weeks")
