"""How a posting slot is written in `syndicate.toml` (pure; the config validates with it, and
`compose.slots` turns the grid into moments).

An entry is a day and a 24-hour time, `"DAY HH:MM"`, where DAY is a day of the week (`monday` ...
`sunday`), `weekdays` (Monday to Friday), `weekends` or `daily`: `"weekdays 09:00"`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import time

from compose.schedule import DAYS

#: The words a slot may use for its day, each with the weekdays (Monday is 0) it stands for.
DAY_WORDS: dict[str, tuple[int, ...]] = {
    **{day: (number,) for number, day in enumerate(DAYS)},
    "weekdays": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
    "daily": (0, 1, 2, 3, 4, 5, 6),
}

_SLOT = re.compile(r"\s*([A-Za-z]+)\s+([0-9]{1,2}):([0-9]{2})\s*")


def parse_slot(text: str) -> tuple[tuple[int, ...], time]:
    """`"monday 09:00"` as (weekdays, wall-clock time); ValueError saying how to write it."""
    match = _SLOT.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a slot: write a day and a 24-hour time, e.g. \"monday 09:00\" "
                         f"or \"weekdays 12:30\"")
    word, hour, minute = match.group(1).lower(), int(match.group(2)), int(match.group(3))
    if word not in DAY_WORDS:
        raise ValueError(f"{text!r}: {match.group(1)!r} is not a day: use one of {', '.join(DAY_WORDS)}")
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {match.group(2)}:{match.group(3)} is not a time of day: use 00:00 to 23:59")
    return DAY_WORDS[word], time(hour, minute)


def normalise_slots(entries: Collection[str]) -> tuple[str, ...]:
    """The slots as the config keeps them (`"monday 09:00"`, lower case, two-digit hours), in the
    order written; ValueError naming the entry when one is malformed or a weekly slot is listed twice."""
    seen: dict[tuple[int, time], str] = {}
    kept = []
    for entry in entries:
        days, at = parse_slot(entry)
        word = _SLOT.fullmatch(entry).group(1).lower()  # type: ignore[union-attr]  # parse_slot matched it
        for day in days:
            if (day, at) in seen:
                raise ValueError(f"{entry!r} repeats {DAYS[day]} {at:%H:%M}, already given by {seen[day, at]!r}: "
                                 f"list each slot once")
            seen[day, at] = entry
        kept.append(f"{word} {at:%H:%M}")
    return tuple(kept)


def weekly_grid(entries: Collection[str]) -> list[tuple[int, time]]:
    """Every (weekday, wall-clock time) the entries name, in week order (Monday first)."""
    return sorted({(day, at) for entry in entries for days, at in [parse_slot(entry)] for day in days})
