"""The weeks ahead: the desk's calendar (a week or a month, in the organisation's zone) of editions'
sends, threads and their posts, quiet periods and posting slots, each linked to its desk page; and
each member of staff's signed iCalendar feed of the same schedule.

`/desk/calendar?view=week|month&date=YYYY-MM-DD` shows the week (Monday first) or the month
holding that date. `/calendar/{token}.ics` is the feed: the token is signed
(`compose.signing.calendar_feed_token`) and checked before anything else is read; then its nonce
and its member of staff are checked in the ledger (`state.calendar_feeds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from compose.calendar import QuietCalendar, QuietSpan
from compose.config import Config
from compose.signing import TokenError, verify_calendar_feed
from compose.slots import slot_times
from compose.threads import enabled_networks
from state.calendar_feeds import feed_owner, feed_token, new_feed_link
from state.calendar_view import EditionEntry, Schedule, ThreadEntry, schedule_between
from state.staff import Staff
from web.calendar_feed import feed_range, schedule_calendar
from web.render import app_of, page
from web.security import Posted, need, posted
from web.threads import SHOWN

router = APIRouter()

VIEWS = ("week", "month")
ON_THREADS_PAGE = frozenset(SHOWN)  # the threads /desk/threads lists


class MonthCell:
    """How much a day of the month view lists before it links to its week."""

    most = 6


class CalendarBounds:
    """The dates the calendar pages through (a date outside is refused with 400)."""

    first = date(2000, 1, 1)
    last = date(2199, 12, 31)


@dataclass(frozen=True, slots=True)
class Period:
    """The days a page shows: a week from Monday, or the weeks holding a month."""

    view: str
    anchor: date
    first: date
    days: int
    start: datetime  # UTC: the first day's midnight in the zone
    end: datetime  # UTC: the midnight after the last day
    previous: date
    following: date
    title: str
    month: int | None  # the month shown (month view): other days are its neighbours'


@dataclass(frozen=True, slots=True)
class QuietLine:
    """One day's quiet time for one reason: its stretches within the day, in the zone."""

    reason: str
    channels: str  # "every channel", or "x, mastodon"
    stretches: tuple[tuple[datetime, datetime], ...]  # UTC, clipped to the day
    all_day: bool


@dataclass(frozen=True, slots=True)
class SlotLine:
    """One network's posting slots on one day: each moment, and whether a thread has it or it is quiet."""

    network: str
    slots: tuple[tuple[datetime, str], ...]  # (moment, "free" | "taken" | "quiet")


@dataclass
class Day:
    """One day of the page in the zone, [start, end) in UTC, with what happens in it."""

    day: date
    start: datetime
    end: datetime
    outside: bool  # a neighbouring month's day in the month view
    today: bool
    editions: list[EditionEntry] = field(default_factory=list)
    threads: list[ThreadEntry] = field(default_factory=list)
    quiet: list[QuietLine] = field(default_factory=list)
    slots: list[SlotLine] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.editions or self.threads or self.quiet or self.slots)

    @property
    def entries(self) -> list[tuple[str, datetime, Any]]:
        """Its editions and threads in order of time: (kind, moment, entry)."""
        found: list[tuple[str, datetime, Any]] = [("edition", e.at, e) for e in self.editions]
        found += [("thread", t.first_at, t) for t in self.threads]
        return sorted(found, key=lambda entry: (entry[1], entry[0] != "edition"))


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first moment of `day` in `zone`, in UTC (where midnight does not exist, the moment the day begins)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def period(view: str, anchor: date, zone: ZoneInfo) -> Period:
    """The week (Monday to Sunday) or the month (whole weeks around it) holding `anchor`."""
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        count = 7
        previous, following = anchor - timedelta(days=7), anchor + timedelta(days=7)
        last = first + timedelta(days=6)
        title = f"{first:%-d %B} to {last:%-d %B %Y}" if first.year == last.year else \
            f"{first:%-d %B %Y} to {last:%-d %B %Y}"
        month = None
    else:
        start_of_month = anchor.replace(day=1)
        following = (start_of_month + timedelta(days=32)).replace(day=1)
        previous = (start_of_month - timedelta(days=1)).replace(day=1)
        end_of_month = following - timedelta(days=1)
        first = start_of_month - timedelta(days=start_of_month.weekday())
        count = (end_of_month - first).days + 1 + (6 - end_of_month.weekday())
        title = f"{anchor:%B %Y}"
        month = anchor.month
    return Period(view=view, anchor=anchor, first=first, days=count, start=midnight(first, zone),
                  end=midnight(first + timedelta(days=count), zone), previous=previous, following=following,
                  title=title, month=month)


def lay_out(shown: Period, schedule: Schedule, zone: ZoneInfo, today: date) -> list[Day]:
    """The period's days, each with the editions and threads whose moment falls on it in `zone`."""
    days = [Day(day=d, start=midnight(d, zone), end=midnight(d + timedelta(days=1), zone),
                outside=shown.month is not None and d.month != shown.month, today=d == today)
            for d in (shown.first + timedelta(days=n) for n in range(shown.days))]

    def on(moment: datetime) -> Day:
        return days[(moment.astimezone(zone).date() - shown.first).days]

    for edition in schedule.editions:
        on(edition.at).editions.append(edition)
    for thread in schedule.threads:
        on(thread.first_at).threads.append(thread)
    return days


def _channels(channels: frozenset[str] | None) -> str:
    return "every channel" if channels is None else ", ".join(sorted(channels))


def quiet_lines(day: Day, spans: list[QuietSpan]) -> list[QuietLine]:
    """The quiet spans overlapping the day, clipped to it, one line per reason and channels."""
    grouped: dict[tuple[str, frozenset[str] | None], list[tuple[datetime, datetime]]] = {}
    for span in spans:
        start, end = max(span.start, day.start), min(span.end, day.end)
        if start < end:
            grouped.setdefault((span.reason, span.channels), []).append((start, end))
    return [QuietLine(reason=reason, channels=_channels(channels), stretches=tuple(sorted(stretches)),
                      all_day=any(a == day.start and b == day.end for a, b in stretches))
            for (reason, channels), stretches in grouped.items()]


def slot_lines(config: Config, day: Day, quiet: QuietCalendar, taken: dict[str, set[datetime]]) -> list[SlotLine]:
    """Each enabled network's slots on the day, marked taken (a thread is scheduled at it) or quiet."""
    lines = []
    for network in enabled_networks(config):
        moments = slot_times(config, network, day.start, day.end)
        if moments:
            lines.append(SlotLine(network=network, slots=tuple(
                (m, "taken" if m in taken.get(network, ()) else "quiet" if quiet.quiet_reason(network, m) else "free")
                for m in moments)))
    return lines


def add_quiet_and_slots(days: list[Day], config: Config, schedule: Schedule, start: datetime, end: datetime) -> None:
    """Put the quiet time (`compose.calendar`) and the posting slots (`compose.slots`) on each day."""
    quiet = QuietCalendar.from_config(config)
    spans = quiet.spans(start, end)
    taken: dict[str, set[datetime]] = {}
    for thread in schedule.threads:
        if thread.scheduled_for is not None:
            taken.setdefault(thread.network, set()).add(thread.scheduled_for)
    for day in days:
        day.quiet = quiet_lines(day, spans)
        day.slots = slot_lines(config, day, quiet, taken)


def thread_link(thread: ThreadEntry) -> str:
    """Its desk page: the posts page while it can still change or needs staff, else the history."""
    return f"/desk/threads#thread-{thread.id}" if thread.status in ON_THREADS_PAGE else "/desk/history#th-h"


def _chosen(request: Request, today: date) -> tuple[str, date]:
    view = request.query_params.get("view", "week")
    if view not in VIEWS:
        raise HTTPException(400, "choose view=week or view=month")
    raw = request.query_params.get("date", "")
    if not raw:
        return view, today
    try:
        chosen = date.fromisoformat(raw[:10]) if len(raw) <= 10 else None
    except ValueError:
        chosen = None
    if chosen is None or not CalendarBounds.first <= chosen <= CalendarBounds.last:
        raise HTTPException(400, f"the date {raw[:20]!r} is not a date the calendar shows: use YYYY-MM-DD, "
                                 f"from {CalendarBounds.first} to {CalendarBounds.last}")
    return view, chosen


def feed_url(request: Request, token: str) -> str:
    return f"{app_of(request).public_url}/calendar/{token}.ics"


@router.get("/desk/calendar")
def calendar_page(request: Request, staff: Staff = Depends(need("view"))) -> Response:
    app = app_of(request)
    now = app.now()
    zone = app.zone
    today = now.astimezone(zone).date()
    view, anchor = _chosen(request, today)
    shown = period(view, anchor, zone)
    with app.db.session() as session:
        schedule = schedule_between(session, shown.start, shown.end)
        token = feed_token(session, staff.id, secret_key=app.secret_key, now=now)
    days = lay_out(shown, schedule, zone, today)
    add_quiet_and_slots(days, app.config, schedule, shown.start, shown.end)
    context: dict[str, Any] = {
        "period": shown, "days": days, "weeks": [days[n:n + 7] for n in range(0, len(days), 7)],
        "today": today, "thread_link": thread_link, "counts": _counts(schedule),
        "most": MonthCell.most if view == "month" else None,
        "feed_url": feed_url(request, token) if token else None,
        "notice": {"made": "Your calendar link is ready: copy it into your calendar app.",
                   "reset": "Your calendar link was replaced: the old one no longer works."}
        .get(request.query_params.get("done", "")),
    }
    return page(request, "calendar.html", context)


def _counts(schedule: Schedule) -> dict[str, int]:
    return {"editions": len(schedule.editions), "threads": len(schedule.threads), "posts": len(schedule.posts)}


@router.post("/desk/calendar-link")
def calendar_link(request: Request, post: Posted = Depends(posted("view"))) -> Response:
    """Make the signed-in member of staff's feed link, or replace it (the old one stops working)."""
    app = app_of(request)
    with app.db.session() as session:
        had = feed_token(session, post.staff.id, secret_key=app.secret_key, now=app.now()) is not None
        new_feed_link(session, post.staff.id, by=post.staff.email, now=app.now())
    return RedirectResponse(f"/desk/calendar?done={'reset' if had else 'made'}#feed", status_code=303)


_NOT_VALID = ("this calendar link is not valid: it was replaced, its account was disabled, or it was never issued. "
              "Get your link from the desk's calendar page.\n")


@router.get("/calendar/{token}.ics")
def calendar_feed(request: Request, token: str) -> Response:
    """The schedule as iCalendar, for the member of staff whose signed link this is."""
    app = app_of(request)
    now = app.now()
    try:
        staff_id, nonce = verify_calendar_feed(app.secret_key, token, now=now)  # before anything is read
    except TokenError:
        return PlainTextResponse(_NOT_VALID, status_code=404, headers={"Cache-Control": "no-store"})
    start, end = feed_range(now)
    with app.db.session() as session:
        if feed_owner(session, staff_id, nonce) is None:
            return PlainTextResponse(_NOT_VALID, status_code=404, headers={"Cache-Control": "no-store"})
        schedule = schedule_between(session, start, end)
    quiet = QuietCalendar.from_config(app.config).spans(start, end)
    calendar = schedule_calendar(schedule, public_url=app.public_url, name=app.config.edition.title, now=now,
                                 quiet=quiet)
    return Response(calendar.to_ical(), media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, no-store", "Content-Disposition": 'inline; filename="schedule.ics"'})
