"""The pause switch: stop every outbound call, or one channel's, until a member of staff resumes it.

A pause stops "all" channels or one: "email" (editions) or a post network ("x", "mastodon",
"bluesky": `known_channels()`, from the networks compose knows). It is a row of `pauses` (who, when,
why) that stays active until someone resumes it. The senders ask `stopping(session, channel)` in
the ledger before every email batch (`flows.stages.deliver`) and every post
(`flows.stages.publish`): a send under way stops at its next batch or post, and the next run after
the resume goes on where it stopped (the batch and post rows already say what went), never twice.

Who may: any approver or admin may pause (an emergency brake should be in many hands); only an
admin may resume. Every pause and resume is in the audit log and writes its event
(`syndicate.paused`, `syndicate.resumed`) in the caller's transaction.

Resuming one channel while everything is paused lets that one go and keeps every other channel
paused, each with the original who, when and why (the "all" pause ends and one pause per other
channel takes its place, in the same transaction, so nothing slips out in between).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compose.post_length import RULES_BY_NETWORK
from state import events
from state.errors import LedgerError
from state.models import AuditRow, PauseRow
from state.roles import SYSTEM, require_role

ALL = "all"  # the channel of a pause of everything
EMAIL = "email"
PAUSING_ROLES = ("approver", "admin")  # the brake is in many hands
RESUMING_ROLES = ("admin",)  # letting things go again is a deliberate act
MAX_REASON = 500  # characters; a reason is one or two sentences staff read in a banner
_LABELS = {ALL: "everything", "x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky", "linkedin": "LinkedIn"}


def known_channels() -> tuple[str, ...]:
    """Every channel that can be paused on its own: the email, then each post network compose knows."""
    return (EMAIL, *RULES_BY_NETWORK)


def label(channel: str) -> str:
    """A channel as staff read it: "everything", "email", "X", "Mastodon"."""
    return _LABELS.get(channel, channel)


@dataclass(frozen=True, slots=True)
class Pause:
    """An active pause, detached from the session: what it stops, who set it, since when and why."""

    id: int
    channel: str
    reason: str
    by: str
    since: datetime

    @property
    def everything(self) -> bool:
        return self.channel == ALL

    @property
    def what(self) -> str:
        """"everything", or the channel's name."""
        return label(self.channel)

    def describe(self, zone: tzinfo) -> str:
        """"X is paused by a@example.org since Thu 3 Dec 2026, 10:00 GMT: the account was hacked"."""
        local = self.since.astimezone(zone)
        when = f"{local:%a} {local.day} {local:%b} {local.year}, {local:%H:%M} {local.tzname() or ''}".rstrip()
        return f"{self.what} is paused by {self.by} since {when}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "channel": self.channel, "what": self.what, "reason": self.reason, "by": self.by,
                "since": self.since.isoformat()}


def _pause(row: PauseRow) -> Pause:
    return Pause(id=row.id, channel=row.channel, reason=row.reason, by=row.paused_by, since=row.paused_at)


def _order(channel: str) -> int:
    known = (ALL, *known_channels())
    return known.index(channel) if channel in known else len(known)


def _active_rows(session: Session) -> list[PauseRow]:
    rows = session.scalars(select(PauseRow).where(PauseRow.resumed_at.is_(None)).order_by(PauseRow.paused_at,
                                                                                          PauseRow.id)).all()
    return sorted(rows, key=lambda row: _order(row.channel))  # stable: by channel, then oldest first


def active(session: Session) -> list[Pause]:
    """Every pause in force: everything first, then each channel's, oldest first. Reads only."""
    return [_pause(row) for row in _active_rows(session)]


def stopping(session: Session, channel: str) -> Pause | None:
    """The pause that stops `channel` now (a pause of everything first, else its own), or None: what
    a sender asks before every batch or post. Reads only."""
    rows = session.scalars(select(PauseRow).where(PauseRow.resumed_at.is_(None), PauseRow.channel.in_((ALL, channel)))
                           .order_by(PauseRow.paused_at, PauseRow.id)).all()
    if not rows:
        return None
    return _pause(min(rows, key=lambda row: row.channel != ALL))


def check_channels(names: Iterable[str] | None) -> tuple[str, ...]:
    """The channels named, checked and in their usual order; () for none (everything). `LedgerError`
    naming the ones we do not know, and the ones we do."""
    asked = [str(name).strip().lower() for name in names or ()]
    if ALL in asked:
        return ()
    unknown = [name for name in asked if name not in known_channels()]
    if unknown:
        raise LedgerError(f"unknown channel {', '.join(repr(name) for name in unknown)}: use one of "
                          f"{', '.join(known_channels())} (or no --channel for everything)")
    return tuple(name for name in known_channels() if name in asked)


def check_reason(reason: str | None) -> str:
    """The reason as kept (spaces tidied), or `LedgerError` saying what a reason must be."""
    text = " ".join((reason or "").split())
    if not text:
        raise LedgerError("a pause needs a reason staff will read, e.g. --reason \"our X account was "
                          "compromised: nothing goes out until it is secured\"")
    if len(text) > MAX_REASON:
        raise LedgerError(f"the reason is {len(text)} characters: keep it under {MAX_REASON} (staff read it in a "
                          "banner on every desk page)")
    return text


def _audit(session: Session, *, actor: str, action: str, row: PauseRow, now: datetime, **detail: object) -> None:
    session.add(AuditRow(at=now, actor=actor, action=action, subject_kind="pause", subject_id=row.id,
                         detail={"channel": row.channel, "reason": row.reason, **detail}))


def _start(session: Session, channel: str, *, reason: str, by: str, since: datetime, now: datetime, actor: str,
           **detail: object) -> Pause:
    row = PauseRow(channel=channel, reason=reason, paused_by=by, paused_at=since)
    session.add(row)
    session.flush()
    _audit(session, actor=actor, action="pause", row=row, now=now, **detail)
    events.record_event(session, events.PAUSED, events.resource_id("channel", channel),
                        {"id": row.id, "channel": channel, "reason": reason, "by": by, "since": since.isoformat(),
                         **detail}, now=now)
    return _pause(row)


def _end(session: Session, row: PauseRow, *, by: str, now: datetime, **detail: object) -> Pause:
    ended = _pause(row)
    row.resumed_by, row.resumed_at = by, now
    _audit(session, actor=by, action="resume", row=row, now=now, paused_by=row.paused_by,
           paused_at=row.paused_at.isoformat(), **detail)
    events.record_event(session, events.RESUMED, events.resource_id("channel", row.channel),
                        {"id": row.id, "channel": row.channel, "by": by, "paused_by": row.paused_by,
                         "since": row.paused_at.isoformat(), "reason": row.reason, **detail}, now=now)
    return ended


@dataclass(frozen=True)
class PauseResult:
    """What `pause` did: the pauses it started, and those already in force that stop what was asked."""

    started: list[Pause] = field(default_factory=list)
    already: list[Pause] = field(default_factory=list)


def pause(session: Session, *, channels: Sequence[str] | None = None, reason: str | None, by: str,
          now: datetime) -> PauseResult:
    """Pause everything (no channels) or each channel named, as `by` (an approver or admin), saying why.
    A channel a pause already stops is left as it is (reported in `already`). Bad input (an unknown
    channel, no reason, not allowed) raises `LedgerError` and changes nothing. Does not commit."""
    asked = check_channels(channels)
    text = check_reason(reason)
    what = ", ".join(label(c) for c in asked) or label(ALL)
    who = require_role(session, by, PAUSING_ROLES, f"pause {what}")
    result = PauseResult()
    for channel in asked or (ALL,):
        current = stopping(session, channel) if channel != ALL else next(
            (p for p in active(session) if p.everything), None)
        if current is not None:
            result.already.append(current)
            continue
        result.started.append(_start(session, channel, reason=text, by=who, since=now, now=now, actor=who))
    return result


@dataclass(frozen=True)
class ResumeResult:
    """What `resume` did: the pauses it ended, and the channels it kept paused (one pause each) when
    everything was paused and only some channels were resumed."""

    ended: list[Pause] = field(default_factory=list)
    kept: list[Pause] = field(default_factory=list)


def resume(session: Session, *, channels: Sequence[str] | None = None, by: str, now: datetime) -> ResumeResult:
    """Resume everything (no channels: every pause ends) or each channel named, as `by` (an admin).
    Resuming some channels while everything is paused keeps every other channel paused with the
    original who, when and why. Nothing paused: nothing changes. Bad input raises `LedgerError` and
    changes nothing. Does not commit."""
    asked = check_channels(channels)
    what = ", ".join(label(c) for c in asked) or label(ALL)
    who = require_role(session, by, RESUMING_ROLES, f"resume {what}")
    result = ResumeResult()
    rows = _active_rows(session)
    if not asked:
        result.ended.extend(_end(session, row, by=who, now=now) for row in rows)
        return result
    everything = [row for row in rows if row.channel == ALL]
    own = {row.channel for row in rows if row.channel != ALL}
    for row in everything:
        keep = [c for c in known_channels() if c not in asked and c not in own]
        result.ended.append(_end(session, row, by=who, now=now, resumed=list(asked), kept=keep))
        for channel in keep:
            result.kept.append(_start(session, channel, reason=row.reason, by=row.paused_by, since=row.paused_at,
                                      now=now, actor=who, kept_from=row.id))
            own.add(channel)
    result.ended.extend(_end(session, row, by=who, now=now) for row in rows if row.channel in asked)
    return result


def recent(session: Session, *, limit: int = 20) -> list[PauseRow]:
    """The latest pauses, in force or ended, newest first (for the desk's pause page). Reads only."""
    return list(session.scalars(select(PauseRow).order_by(PauseRow.paused_at.desc(), PauseRow.id.desc()).limit(limit)))


def pause_by_system(session: Session, *, channel: str = EMAIL, reason: str, now: datetime) -> Pause | None:
    """Pause `channel` as the pipeline itself (`state.roles.SYSTEM`, e.g. the reputation guard),
    exactly as a staff pause: the senders stop at their next batch and only an admin resumes.
    Returns the new pause, or None when a pause already stops the channel. Audited, with its
    event. Does not commit."""
    text = check_reason(reason)
    if stopping(session, channel) is not None:
        return None
    return _start(session, channel, reason=text, by=SYSTEM, since=now, now=now, actor=SYSTEM, by_system=True)
