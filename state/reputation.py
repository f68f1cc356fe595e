"""The guard of the sender's reputation: pause the email when spam complaints or hard bounces run
high, and tell staff with the numbers.

`guard` reads the figures (`state.figures`) of each send it is asked about, of the last edition
sent, and of the editions sent over the last `window_days` taken together; judges each against
`[reputation]` (`compose.reputation.judge`); and then:
- STOP (a rate reached its stop threshold): the email is paused through the pauses ledger
  (`state.pauses.pause_by_system`, by the system actor, with the numbers in the reason), so
  every sender stops at its next batch exactly as for a staff pause, and only an admin resumes
  it; the `syndicate.reputation.stopped` event tells staff (`flows.notify.notify_failures`).
- WARN (a rate reached its warning): the `syndicate.reputation.warned` event tells staff; nothing
  stops.
Each scope trips each level once (`ReputationTripRow`): "edition-12" for a send, "window-12" for
the days ending with edition 12 (the one being sent, or the latest sent). So an admin who resumes after reading the
numbers is not overruled by the next event about the same send; a new edition is a new scope,
and when the days before it are still over the stop threshold the guard pauses again before its
first batch (the admin then decides again, knowingly).

It runs when provider events arrive (`web.public`, the SendGrid webhook) and before an edition
starts and before every batch (`flows.stages.deliver`). The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from compose.config import Reputation
from compose.reputation import Level, Reading, Verdict, judge, percent
from state import events, figures, pauses
from state.figures import EditionFigures
from state.models import EditionRow, EditionStatus, ReputationTripRow


@dataclass(frozen=True, slots=True)
class Scope:
    """What a verdict is about: its key (one trip per key and level) and its reading."""

    key: str
    reading: Reading


@dataclass
class GuardReport:
    """What one check found and did."""

    verdicts: list[Verdict] = field(default_factory=list)
    paused: pauses.Pause | None = None  # the pause it started
    warned: list[str] = field(default_factory=list)  # what staff are told (warnings and the stop)

    @property
    def level(self) -> Level:
        return max((v.level for v in self.verdicts), default=Level.OK)


def _reading(scope: str, f: EditionFigures) -> Reading:
    return Reading(scope=scope, accepted=f.accepted, delivered=f.delivered, bounced=f.bounced, complaints=f.complaints)


def last_sent(session: Session) -> int | None:
    """The edition sent (or being sent) most recently, or None. Reads only."""
    moment = figures.sent_moment()
    return session.scalar(select(EditionRow.id).where(EditionRow.status.in_([EditionStatus.SENDING,
                                                                             EditionStatus.SENT]))
                          .order_by(moment.desc(), EditionRow.id.desc()).limit(1))


def scopes(session: Session, settings: Reputation, *, now: datetime, edition_ids: Iterable[int] = (),
           sending: int | None = None) -> list[Scope]:
    """The sends to judge (those named, and the last one sent) and the window of days, which is
    keyed by the edition about to be sent (`sending`), else the last one sent. Reads only."""
    last = last_sent(session)
    ids = list(dict.fromkeys([*edition_ids, *([last] if last is not None else [])]))
    out = [Scope(f"edition-{i}", _reading(f"edition {i}", f)) for i, f in figures.many_figures(session, ids).items()]
    latest = sending if sending is not None else last
    if latest is not None:
        days = settings.window_days
        total = figures.rolling_figures(session, since=now - timedelta(days=days), until=now + timedelta(seconds=1))
        if total.editions:
            out.append(Scope(f"window-{latest}", _reading(
                f"the last {days} days ({total.editions} edition{'s' if total.editions != 1 else ''})", total)))
    return out


def _tripped(session: Session, key: str, level: str) -> bool:
    return session.scalar(select(ReputationTripRow.id).where(ReputationTripRow.key == key,
                                                             ReputationTripRow.level == level)) is not None


def _numbers(verdict: Verdict) -> dict[str, object]:
    r = verdict.reading
    return {"scope": r.scope, "accepted": r.accepted, "delivered": r.delivered, "bounced": r.bounced,
            "complaints": r.complaints, "complaint_rate": r.complaint_rate, "bounce_rate": r.bounce_rate}


def guard(session: Session, settings: Reputation, *, now: datetime, edition_ids: Iterable[int] = (),
          sending: int | None = None) -> GuardReport:
    """Judge the sends named, the last one and the window; pause the email on a new STOP, tell
    staff of a new WARN. `sending`: the edition a sender is about to send (or sending), whose
    scope the window is judged for. Returns what it found and did. Does not commit."""
    report = GuardReport()
    for scope in scopes(session, settings, now=now, edition_ids=edition_ids, sending=sending):
        verdict = judge(scope.reading, settings)
        report.verdicts.append(verdict)
        if verdict.level is Level.STOP and not _tripped(session, scope.key, "stop"):
            trip = _trip(session, scope, verdict, "stop", now=now)
            if trip is None:  # another check tripped it at the same moment
                continue
            reason = (f"sender reputation: {verdict.said()}. An admin resumes email after checking the "
                      "complaints and bounces (docs/operations.md, Sender reputation)")[:pauses.MAX_REASON]
            started = pauses.pause_by_system(session, channel=pauses.EMAIL, reason=reason, now=now)
            trip.pause_id = started.id if started is not None else None
            report.paused = report.paused or started
            _announce(session, trip)
            report.warned.append(verdict.said())
        elif verdict.level is Level.WARN and not _tripped(session, scope.key, "warn"):
            trip = _trip(session, scope, verdict, "warn", now=now)
            if trip is not None:
                _announce(session, trip)
                report.warned.append(verdict.said())
    return report


def _trip(session: Session, scope: Scope, verdict: Verdict, level: str, *, now: datetime) -> ReputationTripRow | None:
    """Record the trip (once per key and level: the unique key settles a race between two checks)."""
    row = ReputationTripRow(key=scope.key, level=level, said=verdict.said(), figures=_numbers(verdict), at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def _announce(session: Session, trip: ReputationTripRow) -> None:
    """The event staff are told by (`flows.notify`), in the same transaction."""
    session.flush()
    name = events.REPUTATION_STOPPED if trip.level == "stop" else events.REPUTATION_WARNED
    events.record_event(session, name, events.resource_id("reputation", trip.key),
                        {"key": trip.key, "level": trip.level, "said": trip.said, "pause_id": trip.pause_id,
                         **trip.figures}, now=trip.at)


def describe_level(settings: Reputation) -> str:
    """The thresholds in one line (for `syndicate status` and the desk)."""
    return (f"complaints: warn at {percent(settings.complaint_rate_warn)}, stop at {percent(settings.complaint_rate_stop)}; "
            f"hard bounces: warn at {percent(settings.bounce_rate_warn)}, stop at {percent(settings.bounce_rate_stop)}; "
            f"over at least {settings.min_sample:,} messages, per send and over {settings.window_days} days")
