"""Quiet time: when nothing may go out on a channel, and the next moment something may.

Three kinds of quiet time come from `[calendar]` in the config (compose.config.CalendarSettings):
the public holidays of one UK nation (the `holidays` package; the whole local day), named
periods (a pre-election period, a day of mourning) and, per channel, weekly windows of hours in
which it may send or post (quiet outside all of them). Every rule is wall-clock in the
organisation's zone (`config.zone`); every moment in and out is an aware datetime, and what
comes out is UTC. Pure: no clock, no I/O (time is a parameter).

Wall-clock across clock changes: a window opens at the first instant the local clock reads its
start and closes at the first instant after that the clock reads its end. So a window from
01:30 opens at 02:00 BST on the morning the clocks go forward (01:30 never happens), and a
window until 01:30 ends the first time the clock reads 01:30 on the morning they go back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from compose.config import DAY_GROUPS, DAYS, HOLIDAY_NATIONS, Config, QuietWindow
from compose.schedule import wall_to_utc

_TICK = timedelta(microseconds=1)
_MAX_HOPS = 10_000  # quiet spans chained by one next_allowed: far more than any real calendar has


@dataclass(frozen=True)
class QuietSpan:
    """A stretch of quiet time, [start, end) in UTC, on `channels` (None: every channel)."""

    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    reason: str  # what staff read, e.g. "Christmas Day (bank holiday in England)"
    channels: frozenset[str] | None  # None: every channel

    def applies_to(self, channel: str | None) -> bool:
        """True when this span is quiet for `channel` (None: asked about every channel)."""
        return channel is None or self.channels is None or channel in self.channels


def describe_days(days: Sequence[str]) -> str:
    """`days` as staff read them: "weekdays", "weekends", "every day" or "Monday, Friday"."""
    for name, group in DAY_GROUPS.items():
        if tuple(days) == group:
            return name
    return ", ".join(day.capitalize() for day in days)


def describe_windows(windows: Iterable[QuietWindow]) -> str:
    """A channel's windows as staff read them: "weekdays 08:00-18:00; Saturday 10:00-12:00"."""
    return "; ".join(f"{describe_days(w.days)} {w.start:%H:%M}-{w.end:%H:%M}" for w in windows)


@functools.lru_cache(maxsize=64)
def _holidays_of(subdivision: str, year: int) -> Mapping[date, str]:
    """The bank holidays of a UK nation in a year, by date (computed once: about 4 ms each)."""
    import holidays as holiday_tables  # here, not at the top: importing it costs ~70 ms, paid only when a day is checked

    table = holiday_tables.country_holidays("GB", subdiv=subdivision, years=year, language="en_GB")
    return MappingProxyType(dict(table.items()))


def _holiday_reason(name: str, nation: str) -> str:
    """"Christmas Day (bank holiday in England)"; "Boxing Day (bank holiday in England, observed)"."""
    observed = name.endswith(" (observed)")
    return f"{name.removesuffix(' (observed)')} (bank holiday in {nation}{', observed' if observed else ''})"


def _hours_word(channel: str) -> str:
    return "sending" if channel == "email" else "posting"


class QuietCalendar:
    """The quiet time of one configuration: ask whether a moment is quiet on a channel, when the
    next allowed moment is, and which quiet spans fall in a range."""

    def __init__(
        self,
        *,
        zone: ZoneInfo,
        holidays: str = "none",
        holiday_channels: Iterable[str] | None = None,
        periods: Iterable[QuietSpan] = (),
        windows: Mapping[str, Sequence[QuietWindow]] | None = None,
    ) -> None:
        self.zone = zone
        self._nation = None if holidays == "none" else HOLIDAY_NATIONS[holidays]
        self._holiday_channels = None if holiday_channels is None else frozenset(holiday_channels)
        self._periods = tuple(sorted(periods, key=lambda span: (span.start, span.end)))
        self._windows = {channel: tuple(ws) for channel, ws in (windows or {}).items() if ws}
        self._opened_cache: dict[tuple[str, date, date], list[tuple[datetime, datetime]]] = {}

    @classmethod
    def from_config(cls, config: Config) -> QuietCalendar:
        """The quiet time `[calendar]` describes, in the organisation's zone."""
        settings, zone = config.calendar, config.zone
        periods = []
        for period in settings.periods:
            start, end = period.local_bounds()
            periods.append(QuietSpan(
                start=wall_to_utc(start.date(), start.time(), zone),
                end=wall_to_utc(end.date(), end.time(), zone),
                reason=period.name,
                channels=None if period.channels is None else frozenset(period.channels),
            ))
        windows: dict[str, list[QuietWindow]] = {}
        for window in settings.windows:
            windows.setdefault(window.channel, []).append(window)
        return cls(zone=zone, holidays=settings.holidays, holiday_channels=settings.holiday_channels,
                   periods=periods, windows=windows)

    @property
    def is_empty(self) -> bool:
        """True when nothing is ever quiet (the default configuration)."""
        return self._nation is None and not self._periods and not self._windows

    def quiet_reason(self, channel: str, moment: datetime) -> str | None:
        """Why `moment` is quiet on `channel`, or None when something may go out then."""
        covering = self._covering(channel, moment)
        return covering[0].reason if covering else None

    def next_allowed(self, channel: str, moment: datetime) -> tuple[datetime, tuple[str, ...]]:
        """`moment` itself and () when allowed; else the first allowed moment after it, with the
        reasons it moved (several quiet spans may chain)."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        reasons: list[str] = []
        current = moment
        for _ in range(_MAX_HOPS):
            covering = self._covering(channel, current)
            if not covering:
                return current, tuple(reasons)
            reasons.extend(span.reason for span in covering if span.reason not in reasons)
            current = max(span.end for span in covering)
        raise ValueError(f"{channel} is quiet for more than {_MAX_HOPS} quiet spans in a row after "
                         f"{moment.isoformat()}: check [calendar] in the config")

    def spans(self, start: datetime, end: datetime, channel: str | None = None) -> list[QuietSpan]:
        """Quiet spans overlapping [start, end) (for the calendar page and iCal), for one channel or all."""
        found = [*self._period_spans(start, end, channel), *self._holiday_spans(start, end, channel)]
        for name in self._windows if channel is None else (channel,):
            found.extend(self._window_gaps(name, start, end))
        return sorted(found, key=lambda span: (span.start, span.end, span.reason))

    # -- the three kinds, each as spans overlapping [start, end) -------------------------------

    def _covering(self, channel: str, moment: datetime) -> list[QuietSpan]:
        """The spans `moment` falls in on `channel`: periods first, then holidays, then hours."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        after = moment + _TICK
        return [*self._period_spans(moment, after, channel), *self._holiday_spans(moment, after, channel),
                *self._window_gaps(channel, moment, after)]

    def _period_spans(self, start: datetime, end: datetime, channel: str | None) -> list[QuietSpan]:
        return [span for span in self._periods
                if span.start < end and start < span.end and span.applies_to(channel)]

    def _holiday_names(self, year: int) -> Mapping[date, str]:
        if self._nation is None:
            return {}
        return _holidays_of(self._nation[0], year)

    def _holiday_spans(self, start: datetime, end: datetime, channel: str | None) -> list[QuietSpan]:
        if self._nation is None:
            return []
        channels = self._holiday_channels
        if channel is not None and channels is not None and channel not in channels:
            return []
        found = []
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        while day <= last:
            name = self._holiday_names(day.year).get(day)
            if name is not None:
                span = QuietSpan(start=wall_to_utc(day, time(), self.zone),
                                 end=wall_to_utc(day + timedelta(days=1), time(), self.zone),
                                 reason=_holiday_reason(name, self._nation[1]), channels=channels)
                if span.start < end and start < span.end:
                    found.append(span)
            day += timedelta(days=1)
        return found

    def _window_gaps(self, channel: str, start: datetime, end: datetime) -> list[QuietSpan]:
        """The time between `channel`'s windows that overlaps [start, end)."""
        windows = self._windows.get(channel)
        if not windows:
            return []
        first = start.astimezone(self.zone).date() - timedelta(days=8)
        last = end.astimezone(self.zone).date() + timedelta(days=8)
        key = (channel, first, last)
        if key not in self._opened_cache:
            if len(self._opened_cache) > 512:
                self._opened_cache.clear()
            self._opened_cache[key] = self._opened(windows, first, last)
        opened = self._opened_cache[key]
        reason = f"outside {channel}'s {_hours_word(channel)} hours ({describe_windows(windows)})"
        gaps = []
        for (_, closes), (opens, _) in zip(opened, opened[1:], strict=False):
            if closes < end and start < opens:
                gaps.append(QuietSpan(start=closes, end=opens, reason=reason, channels=frozenset({channel})))
        return gaps

    def _opened(self, windows: Sequence[QuietWindow], first: date, last: date) -> list[tuple[datetime, datetime]]:
        """The windows' open stretches on local days first..last, in UTC, merged where they touch."""
        stretches = []
        day = first
        while day <= last:
            for window in windows:
                if DAYS[day.weekday()] not in window.days:
                    continue
                closing_day = day + timedelta(days=1) if window.end <= window.start else day
                opens = wall_to_utc(day, window.start, self.zone)
                closes = wall_to_utc(closing_day, window.end, self.zone)
                if closes > opens:
                    stretches.append((opens, closes))
            day += timedelta(days=1)
        merged: list[tuple[datetime, datetime]] = []
        for opens, closes in sorted(stretches):
            if merged and opens <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
            else:
                merged.append((opens, closes))
        return merged
