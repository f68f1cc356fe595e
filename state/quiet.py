"""Quiet time in the ledger: editions and threads due inside it move to the next allowed moment,
with a record of why (`QuietMoveRow`) that the desk, `syndicate edition show` and `status` show
before anyone approves; what is about to go out inside it waits; an admin may override it.

The rules are `compose.calendar.QuietCalendar` (from `[calendar]`). An edition's channel is
"email", a thread's its network. Three moments apply them:

- `place`: when an edition or thread gets its time (built, drafted, rescheduled), a time inside
  quiet time moves to the next allowed moment, recorded with the reasons and audited.
- `hold_if_quiet`: at send or publish time, something inside quiet time that was not moved (the
  config changed since, or it was due "now") waits: its time moves and the caller says why.
- `override`: an admin, with a reason, lets one edition or thread go out inside quiet time at
  the time it was due; audited, and shown wherever the move would be.

One `QuietMoveRow` per edition or thread keeps the current state; the audit log keeps every
move and override (`quiet-move`, `quiet-wait`, `quiet-override`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from compose.calendar import QuietCalendar
from state.errors import LedgerError
from state.models import EditionRow, EditionStatus, QuietMoveRow, ThreadRow, ThreadStatus
from state.roles import SYSTEM, require_role

EMAIL = "email"
OVERRIDING_ROLES = ("admin",)
#: Editions and threads whose time still matters: not yet out, not given up.
OPEN_EDITIONS = (EditionStatus.DRAFT, EditionStatus.APPROVED, EditionStatus.REJECTED, EditionStatus.HELD,
                 EditionStatus.SENDING)
OPEN_THREADS = (ThreadStatus.DRAFT, ThreadStatus.APPROVED, ThreadStatus.REJECTED, ThreadStatus.PUBLISHING)

Subject = EditionRow | ThreadRow


def channel_of(row: Subject) -> str:
    """The channel quiet time is read for: "email" for an edition, the network for a thread."""
    return EMAIL if isinstance(row, EditionRow) else row.network


def _kind(row: Subject) -> str:
    return "edition" if isinstance(row, EditionRow) else "thread"


def move_record(session: Session, kind: str, ident: int) -> QuietMoveRow | None:
    """The quiet-time record of an edition or thread, if it has one."""
    return session.scalars(select(QuietMoveRow).where(QuietMoveRow.subject_kind == kind,
                                                      QuietMoveRow.subject_id == ident)).first()


def _record(session: Session, row: Subject) -> QuietMoveRow | None:
    return move_record(session, _kind(row), row.id)


def _merged(old: list[str], new: tuple[str, ...]) -> list[str]:
    return [*old, *(reason for reason in new if reason not in old)]


def _move(session: Session, row: Subject, record: QuietMoveRow | None, moved: datetime, reasons: tuple[str, ...],
          *, now: datetime, action: str) -> QuietMoveRow:
    """Move `row` to `moved` for `reasons`, keeping the time it was first due when it moved before."""
    from state import ledger  # here, not at the top: `syndicate status` needs none of its imports

    due = row.scheduled_for or now
    if record is not None and record.moved_to == moved == row.scheduled_for and set(reasons) <= set(record.reasons):
        return record  # moved there already, for these reasons (an interrupted send asks again each run)
    if record is None:
        record = QuietMoveRow(subject_kind=_kind(row), subject_id=row.id, channel=channel_of(row), due_at=due,
                              reasons=[], recorded_at=now)
        session.add(record)
    elif record.moved_to is None or record.moved_to != row.scheduled_for:  # its time changed since: start afresh
        record.due_at, record.reasons = due, []
    record.moved_to, record.reasons, record.recorded_at = moved, _merged(list(record.reasons), reasons), now
    row.scheduled_for = moved
    ledger.audit(session, actor=SYSTEM, action=action, kind=_kind(row), ident=row.id, now=now,
                 channel=channel_of(row), due_at=record.due_at.isoformat(), moved_to=moved.isoformat(),
                 reasons=list(reasons))
    session.flush()
    return record


def place(session: Session, calendar: QuietCalendar, row: Subject, *, now: datetime) -> tuple[str, ...]:
    """Give `row` its time: when its `scheduled_for` falls in quiet time on its channel, move it to
    the next allowed moment and record why (the reasons are returned). An overridden row keeps its
    time; a record left from an earlier time that is no longer the row's goes. Does not commit."""
    if row.scheduled_for is None:
        return ()
    record = _record(session, row)
    if record is not None and record.override_by is not None:
        return ()
    moved, reasons = calendar.next_allowed(channel_of(row), row.scheduled_for)
    if not reasons:
        if record is not None and record.moved_to != row.scheduled_for:
            session.delete(record)  # staff gave it another time, outside quiet time
            session.flush()
        return ()
    _move(session, row, record, moved, reasons, now=now, action="quiet-move")
    return reasons


def hold_if_quiet(session: Session, calendar: QuietCalendar, row: Subject, *, now: datetime) -> str | None:
    """Why `row` must not go out at `now` (quiet time on its channel, not overridden), after moving
    its time to the next allowed moment and recording why; None when it may go. Does not commit."""
    record = _record(session, row)
    if record is not None and record.override_by is not None:
        return None
    if calendar.quiet_reason(channel_of(row), now) is None:
        return None
    moved, reasons = calendar.next_allowed(channel_of(row), now)
    _move(session, row, record, moved, reasons, now=now, action="quiet-wait")
    return (f"{_kind(row)} {row.id} waits: quiet time on {channel_of(row)} ({'; '.join(reasons)}); "
            f"it goes out at {local(moved, calendar.zone)} (an admin may override: "
            f"`syndicate override-quiet {_kind(row)} {row.id} --by EMAIL --reason TEXT`)")


def subject(session: Session, kind: str, ident: int) -> Subject:
    """The edition or thread `kind` and `ident` name (`NotFound`, or a LedgerError for another kind)."""
    from state import ledger  # here, not at the top: `syndicate status` needs none of its imports

    if kind == "edition":
        return ledger.get_edition(session, ident)
    if kind == "thread":
        return ledger.get_thread(session, ident)
    raise LedgerError(f"{kind!r} is not something quiet time applies to: use edition or thread")


def override(session: Session, calendar: QuietCalendar, kind: str, ident: int, *, by: str, reason: str,
             now: datetime) -> QuietMoveRow:
    """Let an edition or thread go out inside quiet time, at the time it was due before quiet time
    moved it: an admin only, with a reason; audited. An edition's roundup threads that followed its
    time follow it back (each is still held by its own network's quiet time unless overridden too).
    Does not commit."""
    from state import ledger  # here, not at the top: `syndicate status` needs none of its imports

    if not reason or not reason.strip():
        raise LedgerError("overriding quiet time needs a reason (--reason TEXT): it goes in the audit log and is "
                          "shown beside the edition or thread")
    row = subject(session, kind, ident)
    who = require_role(session, by, OVERRIDING_ROLES, f"override quiet time for {kind} {ident}")
    if row.status not in (OPEN_EDITIONS if isinstance(row, EditionRow) else OPEN_THREADS):
        raise LedgerError(f"{kind} {ident} is {row.status}: quiet time no longer applies to it")
    record = _record(session, row)
    if record is None:
        record = QuietMoveRow(subject_kind=kind, subject_id=row.id, channel=channel_of(row),
                              due_at=row.scheduled_for or now, moved_to=None, reasons=[], recorded_at=now)
        session.add(record)
    before = row.scheduled_for
    if record.moved_to is not None and record.moved_to == row.scheduled_for:
        row.scheduled_for = record.due_at
    record.override_by, record.override_reason, record.override_at = who, reason.strip(), now
    ledger.audit(session, actor=who, action="quiet-override", kind=kind, ident=row.id, now=now, reason=reason.strip(),
                 channel=channel_of(row), previous=before.isoformat() if before else None,
                 scheduled_for=row.scheduled_for.isoformat() if row.scheduled_for else None,
                 quiet_reasons=list(record.reasons))
    if isinstance(row, EditionRow) and before != row.scheduled_for:
        follow_edition_time(session, calendar, row, before, now=now)
    session.flush()
    return record


def follow_edition_time(session: Session, calendar: QuietCalendar, edition: EditionRow, before: datetime | None, *,
                        now: datetime) -> None:
    """The edition's time changed from `before`: its roundup threads that went with it (at that
    time, or moved from it by their own network's quiet time) take the new time, placed again."""
    from state import ledger  # here, not at the top: `syndicate status` needs none of its imports

    for thread in ledger.edition_threads(session, edition.id):
        if thread.status not in OPEN_THREADS:
            continue
        record = _record(session, thread)
        moved_from_it = (record is not None and record.override_by is None and record.due_at == before
                         and record.moved_to == thread.scheduled_for)
        if thread.scheduled_for == before or moved_from_it:
            thread.scheduled_for = edition.scheduled_for
            place(session, calendar, thread, now=now)


# --- what staff see -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietNote:
    """What quiet time did or will do to one edition or thread, for the desk, the CLI and status."""

    kind: str
    ident: int
    channel: str
    state: str  # "moved" | "overridden" | "quiet" (its time is inside quiet time: it will wait)
    due_at: datetime | None  # when it was due before quiet time moved it
    goes_at: datetime | None  # when it goes out now (after the move, or the next allowed moment)
    reasons: tuple[str, ...]
    override_by: str | None = None
    override_reason: str | None = None
    override_at: datetime | None = None

    def sentence(self, zone: tzinfo) -> str:
        """One line saying what happened and why, times in `zone`."""
        if self.state == "overridden":
            return (f"quiet time overridden by {self.override_by} on {local(self.override_at, zone)}: "
                    f"\u201c{self.override_reason}\u201d; it goes out at {local(self.goes_at, zone)}"
                    + (f" (inside: {'; '.join(self.reasons)})" if self.reasons else ""))
        if self.state == "moved":
            return (f"moved by quiet time from {local(self.due_at, zone)} to {local(self.goes_at, zone)}: "
                    f"{'; '.join(self.reasons)}")
        return (f"due inside quiet time ({'; '.join(self.reasons)}): it will wait until "
                f"{local(self.goes_at, zone)}")

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "id": self.ident, "channel": self.channel, "state": self.state,
                "due_at": _iso(self.due_at), "goes_at": _iso(self.goes_at), "reasons": list(self.reasons),
                "override_by": self.override_by, "override_reason": self.override_reason,
                "override_at": _iso(self.override_at)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def local(value: datetime | None, zone: tzinfo) -> str:
    """A moment as staff read it: "Tue 29 Dec 2027 07:00 GMT"."""
    if value is None:
        return "no time set"
    moment = value.astimezone(zone)
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M %Z}"


def quiet_note(session: Session, calendar: QuietCalendar, row: Subject) -> QuietNote | None:
    """What staff should see about quiet time for `row`, or None when it does not touch it."""
    return _note(calendar, row, _record(session, row))


def quiet_notes(session: Session, calendar: QuietCalendar, rows: Sequence[ThreadRow]) -> dict[int, QuietNote | None]:
    """`quiet_note` of each of these threads, by id, with their records read in one query (a page of threads)."""
    ids = {row.id for row in rows}
    records = {record.subject_id: record for record in session.scalars(select(QuietMoveRow).where(
        QuietMoveRow.subject_kind == "thread", QuietMoveRow.subject_id.in_(ids)))} if ids else {}
    return {row.id: _note(calendar, row, records.get(row.id)) for row in rows}


def _note(calendar: QuietCalendar, row: Subject, record: QuietMoveRow | None) -> QuietNote | None:
    kind, channel = _kind(row), channel_of(row)
    if record is not None and record.override_by is not None:
        return QuietNote(kind, row.id, channel, "overridden", record.due_at, row.scheduled_for, tuple(record.reasons),
                         record.override_by, record.override_reason, record.override_at)
    if record is not None and record.moved_to is not None and record.moved_to == row.scheduled_for:
        return QuietNote(kind, row.id, channel, "moved", record.due_at, record.moved_to, tuple(record.reasons))
    if row.scheduled_for is not None:
        moved, reasons = calendar.next_allowed(channel, row.scheduled_for)
        if reasons:
            return QuietNote(kind, row.id, channel, "quiet", row.scheduled_for, moved, reasons)
    return None


def open_notes(session: Session, calendar: QuietCalendar) -> list[QuietNote]:
    """The quiet-time notes of every edition and thread not yet out, soonest first (for status)."""
    rows: list[Subject] = list(session.scalars(select(EditionRow).where(EditionRow.status.in_(OPEN_EDITIONS))))
    moved_threads = set(session.scalars(select(QuietMoveRow.subject_id).where(QuietMoveRow.subject_kind == "thread")))
    rows += [row for row in session.scalars(select(ThreadRow).where(ThreadRow.status.in_(OPEN_THREADS)))
             if not calendar.is_empty or row.id in moved_threads]
    notes = [note for note in (quiet_note(session, calendar, row) for row in rows) if note is not None]
    latest = datetime.max.replace(tzinfo=UTC)
    return sorted(notes, key=lambda note: (note.goes_at or note.due_at or latest, note.kind, note.ident))
