"""Posting slots (pure): each network's weekly grid of times, like Buffer's queue.

`[social.x] slots = ["weekdays 09:00", "weekdays 12:30", "saturday 10:00"]` lists wall-clock
times in the organisation's zone (`config.zone`): 09:00 stays 09:00 London time across clock
changes (how an entry is written: `compose.slot_grid`). No slots: posts go out as they always
did, when due, within the daily cap and the spacing.

Clock changes (the two moments a wall-clock time is not one instant):
- a slot in the hour the clocks skip (01:30 on the last Sunday of March in London) runs an hour
  later by the clock, 02:30 BST: the instant it would have been without the change (PEP 495's
  `fold=0`, as `compose.schedule.next_slot` places an edition's send). If the grid also has a slot
  at that later time, the two are one slot that day;
- a slot in the hour the clocks repeat (01:30 on the last Sunday of October) runs once, at its
  first occurrence (01:30 BST, 00:30 UTC), never again an hour later.

Times are UTC everywhere outside this module's arguments; nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from compose.config import Config
from compose.errors import SyndicateError
from compose.slot_grid import DAY_WORDS, normalise_slots, parse_slot, weekly_grid

__all__ = ["DAY_WORDS", "NoFreeSlot", "describe", "next_free_slot", "normalise_slots", "parse_slot", "slot_times",
           "weekly_grid"]

#: How far ahead `next_free_slot` looks before it says no slot is free.
SEARCH_WEEKS = 106  # two years and a little: a quiet calendar may block a long stretch

class NoFreeSlot(SyndicateError, ValueError):
    """Every slot of a network is taken or blocked (quiet time) for as far ahead as we look."""


def describe(entries: Collection[str]) -> str:
    """The grid in words, for pages and messages: "weekdays 09:00, saturday 10:00"."""
    return ", ".join(entries) if entries else "no slots"


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), not {moment!r}")
    return moment.astimezone(UTC)


def _moments(grid: list[tuple[int, time]], zone: ZoneInfo, first: date, last: date) -> Iterator[datetime]:
    """The grid's instants (UTC) on the local dates first..last, in order, each instant once."""
    day = first
    previous: datetime | None = None
    while day <= last:
        # fold=0: the first of a repeated time; a skipped time lands where it would have been
        # without the change, which may be after a later slot of the day: hence sorted
        for moment in sorted({datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
                              for weekday, at in grid if weekday == day.weekday()}):
            if previous is None or moment > previous:
                previous = moment
                yield moment
        day += timedelta(days=1)


def _grid(config: Config, network: str) -> list[tuple[int, time]]:
    return weekly_grid(getattr(config.social, network).slots)


def slot_times(config: Config, network: str, start: datetime, end: datetime) -> list[datetime]:
    """The network's weekly slot grid, as UTC moments in [start, end), in order (wall-clock in config.zone)."""
    start, end = _aware(start, "start"), _aware(end, "end")
    grid = _grid(config, network)
    if not grid or end <= start:
        return []
    zone = config.zone
    # a day either side: the local dates of [start, end) in any zone lie within them
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    return [m for m in _moments(grid, zone, first, last) if start <= m < end]


def next_free_slot(config: Config, network: str, after: datetime, taken: Collection[datetime], *,
                   blocked: Callable[[datetime], str | None] = lambda moment: None) -> datetime | None:
    """The first slot at or after `after` not in `taken` and not `blocked` (quiet); None when the
    network has no slots configured (then posts go out as today: when due, within caps and spacing).

    Raises `NoFreeSlot` when every slot for `SEARCH_WEEKS` weeks is taken or blocked."""
    after = _aware(after, "after")
    grid = _grid(config, network)
    if not grid:
        return None
    busy = {_aware(moment, "a taken slot") for moment in taken}
    zone = config.zone
    first = after.astimezone(zone).date() - timedelta(days=1)
    last = first + timedelta(weeks=SEARCH_WEEKS)
    reasons: dict[str, None] = {}
    for moment in _moments(grid, zone, first, last):
        if moment < after or moment in busy:
            continue
        reason = blocked(moment)
        if reason is None:
            return moment
        reasons.setdefault(reason)
    why = f" (quiet time: {'; '.join(list(reasons)[:3])})" if reasons else ""
    raise NoFreeSlot(f"no free {network} slot in the {SEARCH_WEEKS} weeks after {after:%Y-%m-%d %H:%M} UTC: every "
                     f"slot is taken or in quiet time{why}: add slots to [social.{network}] slots, or move threads")
