"""The weekly note to staff, from the ledger: what it says (`gather_week`), who gets it, and the
record that it went once for its week (`claim`, `mark_sent`, `mark_failed`).

The note covers the seven days that end at the start of the most recent `[weekly_note] day` (in
the organisation's zone) at or before now: sent on Monday morning, it covers Monday to Sunday of
the week before. A note built by hand later in the week covers the same seven days, so it is the
same note: `week_start` is unique in `weekly_notes`, and `claim` refuses a week already sent or
being sent. A claim whose send failed before anything left (`mark_failed`) may be claimed again;
one that died mid-way (neither sent nor failed) is never sent again blindly: staff see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from compose.calendar import QuietCalendar
from compose.config import Config
from compose.schedule import DAYS
from compose.weekly_note import PostsSent, SourceTrouble, Waiting, WeeklyNote, WeeklyNoteData
from state.deliveries import ambiguous_batches
from state.errors import LedgerError
from state.ledger import audit
from state.models import (
    EditionRow,
    EditionStatus,
    PostRow,
    PostStatus,
    SourceRow,
    StaffRow,
    ThreadRow,
    ThreadStatus,
    WeeklyNoteRow,
)
from state.pauses import active as active_pauses
from state.quiet import open_notes
from state.reports import sent_between


class NoteAlreadySent(LedgerError):
    """The note for this week went (or is going) already: it is never sent twice."""


def note_week(now: datetime, config: Config) -> tuple[date, datetime, datetime]:
    """(week_start, start, end): the seven days, in the organisation's zone, the note at `now` covers."""
    zone: ZoneInfo = config.zone
    today = now.astimezone(zone).date()
    back = (today.weekday() - DAYS.index(config.weekly_note.day)) % 7
    end_day = today - timedelta(days=back)
    start_day = end_day - timedelta(days=7)
    return start_day, _midnight(start_day, zone), _midnight(end_day, zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def gather_week(session: Session, config: Config, *, now: datetime) -> WeeklyNoteData:
    """What the note for the week at `now` says: editions and posts that went out in it, with their
    figures; sources failing now; and everything waiting for staff now."""
    week_start, start, end = note_week(now, config)
    return WeeklyNoteData(week_start=week_start, start=start, end=end,
                          editions=tuple(sent_between(session, start, end, config)),
                          posts=_posts(session, start, end), sources=_sources(session, config),
                          waiting=tuple(_waiting(session, config, now=now)))


def _posts(session: Session, start: datetime, end: datetime) -> tuple[PostsSent, ...]:
    rows = session.execute(select(ThreadRow.network, func.count(func.distinct(ThreadRow.id)), func.count(PostRow.id))
                           .join(PostRow, PostRow.thread_id == ThreadRow.id)
                           .where(PostRow.status == PostStatus.POSTED, PostRow.posted_at >= start, PostRow.posted_at < end)
                           .group_by(ThreadRow.network).order_by(ThreadRow.network)).all()
    return tuple(PostsSent(network=network, threads=threads, posts=posts) for network, threads, posts in rows)


def _sources(session: Session, config: Config) -> tuple[SourceTrouble, ...]:
    configured = {source.name for source in config.sources}
    rows = session.scalars(select(SourceRow).where(SourceRow.consecutive_failures > 0).order_by(SourceRow.name))
    return tuple(SourceTrouble(name=row.name, failures=row.consecutive_failures, error=row.last_error or "",
                               hint=row.last_error_hint, since=row.last_success_at)
                 for row in rows if row.name in configured)


def _waiting(session: Session, config: Config, *, now: datetime) -> list[Waiting]:
    zone = config.zone
    out = [Waiting(f"{pause.describe(zone)}", "/desk/pause") for pause in active_pauses(session)]
    for row in session.scalars(select(EditionRow).where(EditionRow.status.in_((EditionStatus.DRAFT, EditionStatus.HELD)))
                               .order_by(EditionRow.id)):
        state = "was held (its send time passed unapproved)" if row.status == EditionStatus.HELD else "waits for approval"
        out.append(Waiting(f"Edition {row.id} ({row.subject}) {state}", f"/desk/editions/{row.id}"))
    drafts = session.scalar(select(func.count()).select_from(ThreadRow).where(ThreadRow.status == ThreadStatus.DRAFT)) or 0
    if drafts:
        out.append(Waiting(f"{drafts} thread(s) of posts wait for approval", "/desk/threads"))
    for batch in ambiguous_batches(session):
        out.append(Waiting(f"Batch {batch.id} of edition {batch.edition_id} ({batch.size} recipients) may or may not "
                           "have been sent: check the provider, then decide", "/desk/history"))
    unsure = session.scalars(select(PostRow).where(PostRow.status == PostStatus.AMBIGUOUS).order_by(PostRow.id)).all()
    for post in unsure:
        out.append(Waiting(f"Post {post.position + 1} of thread {post.thread_id} may or may not have gone out: "
                           "check the network, then decide", "/desk/threads"))
    for note in open_notes(session, QuietCalendar.from_config(config)):
        if note.state == "moved" and (note.goes_at is None or note.goes_at > now):
            where = f"/desk/editions/{note.ident}" if note.kind == "edition" else "/desk/threads"
            out.append(Waiting(f"{note.kind.capitalize()} {note.ident}: {note.sentence(zone)}", where))
    return out


@dataclass(frozen=True, slots=True)
class NoteRecipient:
    staff_id: int
    email: str


def recipients(session: Session, config: Config) -> list[NoteRecipient]:
    """Every member of staff with one of `[weekly_note] roles` whose account is not disabled."""
    rows = session.scalars(select(StaffRow).where(StaffRow.role.in_(config.weekly_note.roles),
                                                  StaffRow.disabled_at.is_(None)).order_by(StaffRow.id))
    return [NoteRecipient(row.id, row.email) for row in rows]


def record_of(session: Session, week_start: date) -> WeeklyNoteRow | None:
    return session.scalar(select(WeeklyNoteRow).where(WeeklyNoteRow.week_start == week_start))


def claim(session: Session, week_start: date, note: WeeklyNote, to: list[NoteRecipient], *, by: str,
          now: datetime) -> WeeklyNoteRow:
    """Record that the note for `week_start` is being sent, and commit, before anything leaves.
    Refused (NoteAlreadySent) when it went, or a send of it is under way or died mid-way."""
    row = record_of(session, week_start)
    if row is not None and (row.sent_at is not None or row.error is None):
        said = (f"went on {row.sent_at:%Y-%m-%d %H:%M} UTC" if row.sent_at is not None
                else f"was being sent since {row.claimed_at:%Y-%m-%d %H:%M} UTC (by {row.claimed_by}) and may have gone")
        raise NoteAlreadySent(f"the weekly note for the week of {week_start:%-d %b %Y} {said}: it is never sent twice")
    values = {"subject": note.subject, "text": note.text, "html": note.html,
              "recipients": [r.email for r in to], "claimed_by": by, "claimed_at": now, "sent_at": None, "error": None}
    if row is None:
        row = WeeklyNoteRow(week_start=week_start, **values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    try:
        session.commit()
    except IntegrityError:  # another worker claimed the same week between our read and our insert
        session.rollback()
        raise NoteAlreadySent(f"the weekly note for the week of {week_start:%-d %b %Y} is being sent by another "
                              "worker: it is never sent twice") from None
    return row


def mark_sent(session: Session, week_start: date, *, now: datetime) -> None:
    row = record_of(session, week_start)
    if row is None:
        raise LedgerError(f"no weekly note was claimed for the week of {week_start}")
    row.sent_at, row.error = now, None
    audit(session, actor=row.claimed_by, action="weekly_note.sent", kind="weekly_note", ident=row.id,
          now=now, week_start=week_start.isoformat(), recipients=len(row.recipients), subject=row.subject)
    session.commit()


def mark_failed(session: Session, week_start: date, *, error: str, now: datetime) -> None:
    """The send failed before anything left: the next run may claim the week again."""
    row = record_of(session, week_start)
    if row is None:
        raise LedgerError(f"no weekly note was claimed for the week of {week_start}")
    row.error = error[:2000] or "failed"
    audit(session, actor=row.claimed_by, action="weekly_note.failed", kind="weekly_note", ident=row.id,
          now=now, week_start=week_start.isoformat(), error=row.error)
    session.commit()
