"""The schedule as an iCalendar feed (RFC 5545) for staff's own calendar apps: an event per
edition send, per post of a thread, per quiet period.

Times are in UTC (`DTSTART:20261126T100000Z`), which every calendar app shows in its own zone, so
no VTIMEZONE is needed. UIDs are stable (`edition-12@host`, `post-40@host`, a quiet period's from
what it is), so a calendar that polls the feed updates its events rather than adding new ones;
a cancelled or rejected edition stays in the feed as STATUS:CANCELLED.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, Event, vDuration, vText

from compose.calendar import QuietSpan
from state.calendar_view import EditionEntry, PostEntry, Schedule, ThreadEntry


class FeedPolicy:
    """What the feed covers and how long its events last."""

    past = timedelta(days=31)  # a month back, so what went out recently is still there
    ahead = timedelta(days=183)  # about six months ahead
    send_length = timedelta(minutes=30)  # an edition's send, as a calendar block
    post_length = timedelta(minutes=5)
    refresh = timedelta(hours=1)  # REFRESH-INTERVAL (RFC 7986) and X-PUBLISHED-TTL: how often apps poll
    product = "-//syndicate//calendar feed//EN"


# iCalendar's STATUS for a VEVENT: TENTATIVE, CONFIRMED or CANCELLED (RFC 5545 3.8.1.11)
_EDITION_STATUS = {"draft": "TENTATIVE", "held": "TENTATIVE", "approved": "CONFIRMED", "sending": "CONFIRMED",
                   "sent": "CONFIRMED", "rejected": "CANCELLED", "cancelled": "CANCELLED"}
_THREAD_STATUS = {"draft": "TENTATIVE", "approved": "CONFIRMED", "publishing": "CONFIRMED", "published": "CONFIRMED",
                  "failed": "TENTATIVE", "rejected": "CANCELLED", "cancelled": "CANCELLED"}


def feed_range(now: datetime) -> tuple[datetime, datetime]:
    """The span of time the feed covers, around `now`."""
    return now - FeedPolicy.past, now + FeedPolicy.ahead


def _host(public_url: str) -> str:
    return urlsplit(public_url).hostname or "syndicate.invalid"


class _Text(vText):
    """TEXT escaped as RFC 5545 3.3.11 says, and nothing more. icalendar's own escaping first turns a
    backslash followed by N into a line break (it takes it for an escaped one), so a subject with
    a literal `\\N` would show a line break in staff's calendar; staff's words are shown as written."""

    def to_ical(self) -> bytes:
        return (self.replace("\\", "\\\\").replace(";", r"\;").replace(",", r"\,").replace("\r\n", r"\n")
                .replace("\n", r"\n").replace("\r", r"\n").encode("utf-8"))  # RFC 5545 3.1.4


def _event(uid: str, *, start: datetime, length: timedelta, summary: str, description: str, status: str,
           url: str, stamp: datetime, transparent: bool = False) -> Event:
    event = Event()
    start = start.replace(microsecond=0)  # iCalendar counts whole seconds
    end = max((start + length).replace(microsecond=0), start + timedelta(seconds=1))
    event.add("uid", uid)
    event.add("dtstamp", stamp.replace(microsecond=0))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", _Text(summary))
    event.add("description", _Text(description))
    event.add("status", status)
    event.add("transp", "TRANSPARENT" if transparent else "OPAQUE")
    if url:
        event.add("url", url)
    return event


def _edition_event(entry: EditionEntry, *, host: str, desk: str, stamp: datetime, title: str) -> Event:
    url = f"{desk}/editions/{entry.id}"
    went = "sent" if entry.status == "sent" else f"send ({entry.status})"
    return _event(f"edition-{entry.id}@{host}", start=entry.at, length=FeedPolicy.send_length,
                  summary=f"{title} {went}: {entry.subject}",
                  description=f"Edition {entry.slug}, {entry.status}. On the desk: {url}",
                  status=_EDITION_STATUS.get(entry.status, "TENTATIVE"), url=url, stamp=stamp)


def _post_event(post: PostEntry, thread: ThreadEntry, *, host: str, desk: str, stamp: datetime) -> Event:
    url = f"{desk}/threads#thread-{thread.id}"
    which = f" {post.position + 1} of {post.count}" if post.count > 1 else ""
    state = post.status if post.status != "pending" else thread.status
    return _event(f"post-{post.id}@{host}", start=post.at, length=FeedPolicy.post_length,
                  summary=f"{post.network} post{which} ({state}): {thread.title}",
                  description=f"{post.preview}\n\nThread {thread.id} on {post.network}, {thread.status}. "
                              f"On the desk: {url}",
                  status=_THREAD_STATUS.get(thread.status, "TENTATIVE"), url=url, stamp=stamp)


def quiet_uid(span: QuietSpan, host: str) -> str:
    """A quiet period's UID, from what it is: the same period gets the same UID on every poll."""
    channels = ",".join(sorted(span.channels)) if span.channels is not None else "*"
    what = f"{span.start.isoformat()}|{span.end.isoformat()}|{span.reason}|{channels}"
    return f"quiet-{hashlib.sha256(what.encode('utf-8')).hexdigest()[:24]}@{host}"


def _quiet_event(span: QuietSpan, *, host: str, desk: str, stamp: datetime) -> Event:
    channels = "every channel" if span.channels is None else ", ".join(sorted(span.channels))
    return _event(quiet_uid(span, host), start=span.start, length=span.end - span.start,
                  summary=f"Quiet ({channels}): {span.reason}",
                  description=f"Nothing goes out on {channels}: {span.reason}. Something due then moves to "
                              f"the next allowed moment. On the desk: {desk}/calendar",
                  status="CONFIRMED", url=f"{desk}/calendar", stamp=stamp, transparent=True)


def schedule_calendar(schedule: Schedule, *, public_url: str, name: str, now: datetime,
                      quiet: Iterable[QuietSpan] = ()) -> Calendar:
    """The calendar of a schedule: its editions' sends, its threads' posts, and the `quiet` spans."""
    host = _host(public_url)
    desk = f"{public_url.rstrip('/')}/desk"
    calendar = Calendar()
    calendar.add("prodid", FeedPolicy.product)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("name", name)  # RFC 7986
    calendar.add("refresh-interval", FeedPolicy.refresh, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(FeedPolicy.refresh).to_ical().decode("ascii"))
    for edition in schedule.editions:
        calendar.add_component(_edition_event(edition, host=host, desk=desk, stamp=now, title=name))
    for thread in schedule.threads:
        for post in thread.posts:
            calendar.add_component(_post_event(post, thread, host=host, desk=desk, stamp=now))
    for span in quiet:
        calendar.add_component(_quiet_event(span, host=host, desk=desk, stamp=now))
    return calendar
