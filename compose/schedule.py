"""When things happen: send and build slots in the organisation's zone, stored in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: The days of the week as `syndicate.toml` names them, in `date.weekday()` order (Monday is 0).
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def cron_weekday(day: str) -> int:
    """`day` (one of `DAYS`) as cron numbers it: Sunday is 0, Monday 1, ..., Saturday 6."""
    return (DAYS.index(day) + 1) % 7


def wall_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant the clock in `zone` reads `at` or later on `day`, in UTC: the wall-clock
    time itself (the first of two when the clocks go back), or, when the clocks go forward over it,
    the moment they jump, as a cron in the zone runs (cronsim, which Prefect uses, does the same)."""
    naive = datetime.combine(day, at)
    moment = naive.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first of two, if the hour repeats
    if moment.astimezone(zone).replace(tzinfo=None) == naive:
        return moment
    earlier = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    probe = min(moment, earlier)
    while probe.astimezone(zone).replace(tzinfo=None) < naive:  # minute by minute to the jump
        probe += timedelta(minutes=1)
    return probe


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
        candidate = wall_to_utc(candidate_date, at, zone)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a weekly slot always exists within 2 weeks")
