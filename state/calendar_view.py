"""What goes out when, read for the desk's calendar and the iCalendar feed: editions, threads and
their posts in a range of time. Read-only; one query per kind for the whole range.

Each thing sits at one moment, in UTC:
- an edition at its send (`sent_at` once sent, else `scheduled_for`);
- a post at its own `posted_at` once it went out, else at its thread's `scheduled_for`;
- a thread at its `published_at` once published, else at its `scheduled_for`.

`schedule_between(session, start, end)` returns the editions and the posts whose moment is in
[start, end), and the threads that are there or have a post there (each thread carries only its
posts inside the range). Nothing without a moment (a thread that failed before it was scheduled)
is on the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, CompoundSelect, and_, exists, or_, select, union
from sqlalchemy.orm import InstrumentedAttribute, Session

from compose.errors import SyndicateError
from state.models import EditionRow, EditionStatus, ItemRow, PostRow, ThreadRow, ThreadStatus


class CalendarLimits:
    preview_chars = 120  # of a post's text, in the calendar and the feed
    longest_range_days = 400  # a month grid is 42 days; the feed a few months


@dataclass(frozen=True, slots=True)
class EditionEntry:
    """An edition's send."""

    id: int
    slug: str
    title: str
    subject: str
    status: str
    scheduled_for: datetime | None
    sent_at: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class PostEntry:
    """One post of a thread, at the moment it went out or is due."""

    id: int
    thread_id: int
    network: str
    position: int
    count: int  # posts in its thread
    status: str
    preview: str
    posted_at: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ThreadEntry:
    """A thread on one network, with its posts inside the range."""

    id: int
    network: str
    kind: str  # "item" or "roundup"
    status: str
    title: str  # the item's title, or the edition's slug for a roundup
    scheduled_for: datetime | None
    published_at: datetime | None
    at: datetime | None  # None: its own moment is unknown, only its posts are placed
    posts: tuple[PostEntry, ...]

    @property
    def first_at(self) -> datetime:
        """Where the calendar puts it: its moment, else its first post's in the range."""
        if self.at is not None:
            return self.at
        return min(post.at for post in self.posts)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Everything with a moment in [start, end), in order of time."""

    start: datetime
    end: datetime
    editions: tuple[EditionEntry, ...]
    threads: tuple[ThreadEntry, ...]

    @property
    def posts(self) -> tuple[PostEntry, ...]:
        """Every post in the range, in order of time."""
        return tuple(sorted((p for t in self.threads for p in t.posts), key=lambda p: (p.at, p.thread_id, p.position)))


class RangeError(SyndicateError, ValueError):
    """A range the calendar does not read: start after end, naive times, or too long."""


def _check(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise RangeError("the calendar's range needs timezone-aware times (UTC)")
    if end < start:
        raise RangeError("the calendar's range ends before it starts")
    if (end - start).days > CalendarLimits.longest_range_days:
        raise RangeError(f"the calendar reads at most {CalendarLimits.longest_range_days} days at once")


def _in(column: InstrumentedAttribute[datetime | None], start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _editions(session: Session, start: datetime, end: datetime) -> tuple[EditionEntry, ...]:
    sent = EditionRow.status == EditionStatus.SENT
    query = (select(EditionRow.id, EditionRow.slug, EditionRow.title, EditionRow.subject, EditionRow.status,
                    EditionRow.scheduled_for, EditionRow.sent_at)
             .where(or_(and_(sent, EditionRow.sent_at.is_not(None), _in(EditionRow.sent_at, start, end)),
                        and_(or_(~sent, EditionRow.sent_at.is_(None)), _in(EditionRow.scheduled_for, start, end)))))
    entries = []
    for ident, slug, title, subject, status, scheduled, sent_at in session.execute(query):
        at = sent_at if status == EditionStatus.SENT and sent_at is not None else scheduled
        assert at is not None  # the query keeps only editions with a moment in the range
        entries.append(EditionEntry(id=ident, slug=slug, title=title, subject=subject, status=str(status),
                                    scheduled_for=scheduled, sent_at=sent_at, at=at))
    return tuple(sorted(entries, key=lambda e: (e.at, e.id)))


def _threads_with_a_post_in_range(start: datetime, end: datetime) -> CompoundSelect[tuple[int]]:
    """Ids of the threads with a post whose moment is in the range: one that went out in it (a range
    of ix_posts_posted_at), or one not out yet of a thread scheduled in it. Two queries joined by
    UNION, each served by an index, where one OR across both tables read every post."""
    went_out = select(PostRow.thread_id).where(PostRow.posted_at.is_not(None), _in(PostRow.posted_at, start, end))
    waiting = select(ThreadRow.id).where(_in(ThreadRow.scheduled_for, start, end), exists().where(
        PostRow.thread_id == ThreadRow.id, PostRow.posted_at.is_(None)))
    return union(went_out, waiting)


def _thread_moment(status: str, scheduled: datetime | None, published: datetime | None) -> datetime | None:
    return published if status == ThreadStatus.PUBLISHED and published is not None else scheduled


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    limit = CalendarLimits.preview_chars
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _threads(session: Session, start: datetime, end: datetime) -> tuple[ThreadEntry, ...]:
    published = ThreadRow.status == ThreadStatus.PUBLISHED
    thread_in_range = or_(and_(published, ThreadRow.published_at.is_not(None), _in(ThreadRow.published_at, start, end)),
                          and_(or_(~published, ThreadRow.published_at.is_(None)),
                               _in(ThreadRow.scheduled_for, start, end)))
    has_post_in_range = ThreadRow.id.in_(_threads_with_a_post_in_range(start, end))
    threads = session.execute(
        select(ThreadRow.id, ThreadRow.network, ThreadRow.kind, ThreadRow.status, ThreadRow.scheduled_for,
               ThreadRow.published_at, ItemRow.title, EditionRow.slug)
        .outerjoin(ItemRow, ItemRow.id == ThreadRow.item_id)
        .outerjoin(EditionRow, EditionRow.id == ThreadRow.edition_id)
        .where(or_(thread_in_range, has_post_in_range))).all()
    if not threads:
        return ()
    posts: dict[int, list[tuple[PostRow, datetime]]] = {}
    counts: dict[int, int] = {}
    wanted = [row[0] for row in threads]
    for post, scheduled in session.execute(
            select(PostRow, ThreadRow.scheduled_for).join(ThreadRow, ThreadRow.id == PostRow.thread_id)
            .where(PostRow.thread_id.in_(wanted)).order_by(PostRow.thread_id, PostRow.position)):
        counts[post.thread_id] = counts.get(post.thread_id, 0) + 1
        at = post.posted_at if post.posted_at is not None else scheduled
        if at is not None and start <= at < end:
            posts.setdefault(post.thread_id, []).append((post, at))
    entries = []
    for ident, network, kind, status, scheduled, published_at, item_title, edition_slug in threads:
        moment = _thread_moment(status, scheduled, published_at)
        mine = tuple(PostEntry(id=p.id, thread_id=ident, network=network, position=p.position, count=counts[ident],
                               status=str(p.status), preview=_preview(p.text), posted_at=p.posted_at, at=at)
                     for p, at in posts.get(ident, ()))
        inside = moment is not None and start <= moment < end
        if not inside and not mine:
            continue
        title = item_title if kind == "item" and item_title else (
            f"roundup of edition {edition_slug}" if edition_slug else f"{kind} thread {ident}")
        entries.append(ThreadEntry(id=ident, network=network, kind=kind, status=str(status), title=title,
                                   scheduled_for=scheduled, published_at=published_at,
                                   at=moment if inside else None, posts=mine))
    return tuple(sorted(entries, key=lambda t: (t.first_at, t.network, t.id)))


def schedule_between(session: Session, start: datetime, end: datetime) -> Schedule:
    """The editions, threads and posts with a moment in [start, end) (aware times; UTC in the ledger).
    Three queries, however many rows: editions, threads, and the posts of those threads."""
    _check(start, end)
    return Schedule(start=start, end=end, editions=_editions(session, start, end), threads=_threads(session, start, end))
