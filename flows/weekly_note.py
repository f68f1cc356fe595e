"""The weekly note to staff: gathered from the ledger (`state.weekly_note`), composed
(`compose.weekly_note`) and sent through the configured email channel (the outbox unless SendGrid is
configured), once per week: the week is claimed in the ledger before the email leaves.

`build_weekly_note` only reads; `send_weekly_note` is what the `weekly-note` deployment and
`syndicate weekly-note send` run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from compose.config import Config
from compose.weekly_note import WeeklyNote, WeeklyNoteData, compose_weekly_note
from connectors.channels.base import EmailChannel, OutboundEmail, Recipient
from connectors.errors import AmbiguousError
from state.db import Database
from state.weekly_note import NoteAlreadySent, claim, gather_week, mark_failed, mark_sent, recipients

logger = logging.getLogger("syndicate.weekly_note")

SLUG_PREFIX = "staff-weekly-note"  # outbox folder: <outbox>/email/staff-weekly-note-<week start>/
SCHEDULE = "the weekly-note schedule"  # who the ledger names when the deployment sends it


@dataclass
class NoteOutcome:
    """What a run did: the week, whether it sent, to whom, or why not."""

    week_start: date
    subject: str
    sent: bool = False
    recipients: list[str] = field(default_factory=list)
    said: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"week_start": self.week_start.isoformat(), "subject": self.subject, "sent": self.sent,
                "recipients": self.recipients, "said": self.said}


def desk_url(config: Config) -> str:
    return str(config.edition.public_url).rstrip("/")


def build_weekly_note(db: Database, config: Config, *, now: datetime) -> tuple[WeeklyNoteData, WeeklyNote]:
    """The note for the week at `now`, as it would go now (nothing is recorded)."""
    with db.session() as session:
        data = gather_week(session, config, now=now)
    note = compose_weekly_note(data, zone=config.zone, desk_url=desk_url(config), title=config.edition.title,
                               organisation=config.organisation.name)
    return data, note


def send_weekly_note(db: Database, config: Config, *, now: datetime, by: str = SCHEDULE,
                     channel: EmailChannel | None = None) -> NoteOutcome:
    """Send the note for the week at `now` to staff, unless it went already (then it says so and sends
    nothing). A failed send is recorded and raised; the next run tries again."""
    data, note = build_weekly_note(db, config, now=now)
    outcome = NoteOutcome(week_start=data.week_start, subject=note.subject)
    if not config.weekly_note.enabled:
        outcome.said = "the weekly note is off ([weekly_note] enabled = false): nothing sent"
        return outcome
    with db.session() as session:
        to = recipients(session, config)
        if not to:
            outcome.said = ("nobody to send it to: no member of staff has one of the roles "
                            f"{', '.join(config.weekly_note.roles)} ([weekly_note] roles); add one with "
                            "`syndicate staff add EMAIL --role approver`")
            return outcome
        try:
            claim(session, data.week_start, note, to, by=by, now=now)
        except NoteAlreadySent as exc:
            outcome.said = str(exc)
            return outcome
    message = OutboundEmail(edition_id=0, edition_slug=f"{SLUG_PREFIX}-{data.week_start.isoformat()}",
                            subject=note.subject, html=note.html, text=note.text,
                            from_email=config.edition.from_email, from_name=config.edition.from_name,
                            reply_to=config.edition.reply_to, categories=("staff-notice",))
    try:
        _send(config, message, [Recipient(r.staff_id, r.email) for r in to], channel)
    except AmbiguousError:
        # the request left and no answer came: it may have gone, so the claim stands and it is never resent
        logger.error("the weekly note for the week of %s may or may not have been sent", data.week_start)
        raise
    except Exception as exc:
        with db.session() as session:
            mark_failed(session, data.week_start, error=f"{type(exc).__name__}: {exc}", now=now)
        logger.error("the weekly note for the week of %s was not sent: %s", data.week_start, exc)
        raise
    with db.session() as session:
        mark_sent(session, data.week_start, now=now)
    outcome.sent, outcome.recipients = True, [r.email for r in to]
    outcome.said = f"sent to {len(to)} member(s) of staff"
    return outcome


def _send(config: Config, message: OutboundEmail, to: list[Recipient], channel: EmailChannel | None) -> None:
    if channel is None:
        from flows.stages.deliver import choose_channel

        channel, _ = choose_channel(config)
    try:
        receipt = channel.send_batch(message, to)
    finally:
        channel.close()
    rejected = getattr(receipt, "rejected", None)
    if rejected and len(rejected) == len(to):
        raise RuntimeError(f"the email channel refused every recipient: {rejected}")
