"""What a reader changes on their preference page: their sections, their name, a pause, or leaving.

Each change is recorded with its time and door (`state.subscriber_changes.record_change`) and
changes nothing else. Leaving always wins: a reader who left (unsubscribed, bounced, complained)
changes nothing more here, and any later change is refused (`Left`); coming back is a fresh
sign-up. Choosing every section stores None ("every section", so a section added later reaches
them too); choosing none is refused: leaving is the way to stop every email.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from compose.subscribers import check_name
from state.errors import LedgerError, NotFound
from state.models import SubscriberRow
from state.subscriber_changes import Door, record_change
from state.subscribers import LEFT, unsubscribe

PAUSE_WEEKS = (1, 2, 4, 8, 12)  # what the page offers; the longest pause is about three months


class PreferenceRefused(LedgerError):
    """A change the page cannot make; the message says what to do instead."""


class Left(PreferenceRefused):
    """The reader has left: nothing changes until they sign up again."""


def reader(session: Session, subscriber_id: int) -> SubscriberRow:
    """The subscriber a preference link names; `NotFound` when there is none any more."""
    row = session.get(SubscriberRow, subscriber_id)
    if row is None:
        raise NotFound("we hold nothing for this link any more: you will not get the newsletter")
    return row


def _still_here(row: SubscriberRow) -> None:
    if row.status in LEFT:
        raise Left("you have left, so nothing was changed: to get the newsletter again, sign up on the subscribe page")


def chosen_sections(row: SubscriberRow, known: Sequence[str]) -> list[str]:
    """The sections this reader gets, in the config's order (every one when they chose none)."""
    if row.sections is None:
        return list(known)
    return [key for key in known if key in row.sections]


def set_sections(session: Session, row: SubscriberRow, sections: Sequence[str], *, known: Sequence[str],
                 now: datetime, door: Door = "preferences", by: str | None = None) -> list[str] | None:
    """Store the reader's sections (None when they chose every one); refused for an unknown or an
    empty choice. Returns what was stored. Does not commit."""
    _still_here(row)
    unknown = sorted(set(sections) - set(known))
    if unknown:
        raise PreferenceRefused(f"there is no section {', '.join(unknown)}: choose among {', '.join(known)}")
    if not sections:
        raise PreferenceRefused("choose at least one section; to stop every email, use Leave at the foot of the page")
    new = None if set(sections) >= set(known) else [key for key in known if key in sections]
    old = row.sections
    if old != new:
        record_change(session, row, door=door, field="sections", old=old, new=new, now=now, by=by)
        row.sections = new
    return new


def set_name(session: Session, row: SubscriberRow, name: str, *, now: datetime, door: Door = "preferences",
             by: str | None = None) -> str:
    """Store the reader's name (`compose.subscribers.check_name`: refused with its reason). Does not commit."""
    _still_here(row)
    new = " ".join(check_name(name).split())
    if new != row.name:
        record_change(session, row, door=door, field="name", old=row.name, new=new, now=now, by=by)
        row.name = new
    return new


def pause(session: Session, row: SubscriberRow, weeks: int, *, now: datetime, door: Door = "preferences",
          by: str | None = None) -> datetime:
    """No email for `weeks` weeks from now (one of `PAUSE_WEEKS`). Does not commit."""
    _still_here(row)
    if weeks not in PAUSE_WEEKS:
        raise PreferenceRefused(f"a pause lasts {', '.join(map(str, PAUSE_WEEKS))} weeks, not {weeks}")
    until = now + timedelta(weeks=weeks)
    record_change(session, row, door=door, field="paused_until", old=_iso(row.paused_until), new=_iso(until),
                  now=now, by=by)
    row.paused_until = until
    return until


def resume(session: Session, row: SubscriberRow, *, now: datetime, door: Door = "preferences",
           by: str | None = None) -> None:
    """End a pause now. Does not commit."""
    _still_here(row)
    if row.paused_until is not None:
        record_change(session, row, door=door, field="paused_until", old=_iso(row.paused_until), new=None,
                      now=now, by=by)
        row.paused_until = None


def paused(row: SubscriberRow, now: datetime) -> bool:
    """True while the reader's pause lasts."""
    return row.paused_until is not None and row.paused_until > now


def leave(session: Session, row: SubscriberRow, *, now: datetime, door: Door = "preferences",
          by: str | None = None) -> None:
    """Unsubscribe at once (`state.subscribers.unsubscribe`, audited), recorded as a change. Leaving
    twice changes nothing. Does not commit."""
    old = str(row.status)
    unsubscribe(session, row.id, reason=f"{door} page", now=now, by=by or "subscriber")
    record_change(session, row, door=door, field="status", old=old, new=str(row.status), now=now, by=by)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None

