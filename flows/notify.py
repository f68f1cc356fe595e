"""Telling staff: held editions and failures.

An edition whose send time came while it was still a draft is held, never sent.

`hold_overdue_editions` is the check the send-edition flow runs before it sends: every DRAFT
edition whose `scheduled_for` has passed is held through `state.ledger.hold_edition` (which
writes the `syndicate.edition.held` event the review desk shows, in the same transaction), and
then staff get an email through the configured email channel (the outbox unless SendGrid is
configured). The email goes to the edition's reply-to address and to every approver and admin.
A failed email is logged and reported, and the hold stands: the event is the record.

`notify_failures` reads the failure events written since the last notice (a batch failed or held
as ambiguous, a thread stopped, a source failing several times in a row, the reputation guard
warning or pausing email, with the numbers) and sends staff one
email listing them; a `syndicate.staff.notified` event marks how far it got, so each failure is
told once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from compose.config import Config
from connectors.channels.base import EmailChannel, OutboundEmail, Recipient
from state import events, ledger
from state.db import Database
from state.models import EditionRow, EditionStatus, EventRow, StaffRow

logger = logging.getLogger("syndicate.notify")


class NoticeSettings:
    staff_roles = ("approver", "admin")  # who is told, besides the edition's reply-to address
    slug_prefix = "staff-notice"  # outbox folder: <outbox>/email/staff-notice-held-<edition slug>/
    lock_key = 0x5EAD_0001  # PostgreSQL advisory lock that serialises failure notices
    source_failures_to_alert = 3  # a source is reported when it has failed this many times in a row
    failure_events = (events.DELIVERY_FAILED, events.DELIVERY_AMBIGUOUS, events.THREAD_FAILED, events.SOURCE_FAILED,
                      events.REPUTATION_STOPPED, events.REPUTATION_WARNED)


@dataclass
class HoldReport:
    """Editions held by one check and whether staff were told."""

    held: list[int] = field(default_factory=list)
    notified: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # edition id -> why the email failed

    def as_dict(self) -> dict[str, object]:
        return {"held": self.held, "notified": self.notified, "errors": {str(k): v for k, v in self.errors.items()}}


def overdue_drafts(db: Database, *, now: datetime) -> list[int]:
    """Draft (unapproved) editions whose send time has passed."""
    with db.session() as session:
        return list(session.scalars(select(EditionRow.id).where(
            EditionRow.status == EditionStatus.DRAFT, EditionRow.scheduled_for.is_not(None),
            EditionRow.scheduled_for <= now).order_by(EditionRow.id)).all())


def hold_overdue_editions(db: Database, config: Config, *, now: datetime,
                          channel: EmailChannel | None = None) -> HoldReport:
    """Hold every overdue draft edition and tell staff. Idempotent: a held edition is not held again."""
    report = HoldReport()
    for edition_id in overdue_drafts(db, now=now):
        with db.session() as session:
            row = ledger.get_edition(session, edition_id)
            if row.status != EditionStatus.DRAFT:  # approved meanwhile
                continue
            scheduled = _aware(row.scheduled_for or now)
            reason = (f"its send time {scheduled.astimezone(config.zone):%A %d %B %Y %H:%M %Z} passed and it was not "
                      "approved")
            ledger.hold_edition(session, row, now=now, reason=reason)
            message = held_notice(config, row, reason=reason)
            recipients = staff_recipients(session, config)
        report.held.append(edition_id)
        try:
            _send(config, message, recipients, channel)
        except Exception as exc:  # noqa: BLE001  (the hold stands; the event tells the desk)
            report.errors[edition_id] = f"{type(exc).__name__}: {exc}"
            logger.error("edition %s was held but the staff email failed: %s", edition_id, exc)
        else:
            report.notified.append(edition_id)
    return report


def staff_recipients(session: Session, config: Config) -> list[Recipient]:
    """The edition's reply-to address, then approvers and admins (each address once)."""
    out = [Recipient(0, config.edition.reply_to, config.edition.from_name)]
    seen = {config.edition.reply_to.lower()}
    for staff in session.scalars(select(StaffRow).where(StaffRow.role.in_(NoticeSettings.staff_roles))
                                 .order_by(StaffRow.id)):
        if staff.email.lower() not in seen:
            seen.add(staff.email.lower())
            out.append(Recipient(staff.id, staff.email))
    return out


def held_notice(config: Config, row: EditionRow, *, reason: str) -> OutboundEmail:
    """The email that tells staff an edition was held, with the way to release it."""
    desk = f"{str(config.edition.public_url).rstrip('/')}/desk/editions/{row.id}"
    text = (f"Edition {row.id} ({row.subject}) was held and has not been sent: {reason}.\n\n"
            f"Review it at {desk}, or run `syndicate edition show {row.id}`.\n"
            f"To send it, give it a new send time in the review desk, then approve it.\n")
    html = "".join(f"<p>{_escape(line)}</p>" for line in text.strip().split("\n") if line)
    return OutboundEmail(edition_id=row.id, edition_slug=f"{NoticeSettings.slug_prefix}-held-{row.slug}",
                         subject=f"Held: {row.subject}", html=html, text=text,
                         from_email=config.edition.from_email, from_name=config.edition.from_name,
                         reply_to=config.edition.reply_to, categories=("staff-notice",))


def _send(config: Config, message: OutboundEmail, recipients: Sequence[Recipient], channel: EmailChannel | None) -> None:
    if channel is None:
        from flows.stages.deliver import choose_channel

        channel, _ = choose_channel(config)
    try:
        channel.send_batch(message, list(recipients))
    finally:
        channel.close()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


NOTIFIED = "syndicate.staff.notified"


def _describe(row: EventRow) -> str | None:
    payload = row.payload or {}
    if row.name == events.SOURCE_FAILED:
        if payload.get("consecutive_failures") != NoticeSettings.source_failures_to_alert:
            return None  # told once per streak, when it reaches the threshold
        return (f"source {payload.get('source')} failed {NoticeSettings.source_failures_to_alert} times in a row: "
                f"{payload.get('error')}" + (f" (hint: {payload['hint']})" if payload.get("hint") else ""))
    if row.name == events.REPUTATION_STOPPED:
        paused = ("email is PAUSED until an admin resumes it (`syndicate resume --channel email --by EMAIL`, or "
                  "Resume on the desk)" if payload.get("pause_id") else "email was already paused")
        return f"sender reputation, stop threshold reached: {payload.get('said')}; {paused}"
    if row.name == events.REPUTATION_WARNED:
        return (f"sender reputation, warning: {payload.get('said')}; nothing is paused yet: look at the complaints "
                "and bounces before the next send")
    if row.name == events.THREAD_FAILED:
        return f"{payload.get('network')} thread {payload.get('id')} stopped: {payload.get('error')}"
    what = "held as ambiguous (it may have been accepted)" if row.name == events.DELIVERY_AMBIGUOUS else "failed"
    return f"a delivery batch of {row.resource_id.replace('syndicate.', '')} {what}: {payload.get('error', '')}".strip()


def notify_failures(db: Database, config: Config, *, now: datetime, channel: EmailChannel | None = None) -> list[str]:
    """Email staff the failures recorded since the last notice; returns what was told.

    On PostgreSQL a transaction-scoped advisory lock makes concurrent runs take turns, so two workers
    never send the same notice; the marker is written only after the email went, so a failed email
    is retried by the next run rather than lost."""
    with db.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": NoticeSettings.lock_key})
        last = session.scalars(select(EventRow).where(EventRow.name == NOTIFIED)
                               .order_by(EventRow.id.desc()).limit(1)).first()
        since = int(last.payload.get("through", 0)) if last else 0
        rows = session.scalars(select(EventRow).where(EventRow.id > since,
                                                      EventRow.name.in_(NoticeSettings.failure_events))
                               .order_by(EventRow.id)).all()
        if not rows:
            return []
        lines = [line for line in (_describe(row) for row in rows) if line]
        through = rows[-1].id
        if lines:
            desk = f"{str(config.edition.public_url).rstrip('/')}/desk"
            text_part = ("These need attention:\n\n" + "\n".join(f"- {line}" for line in lines)
                         + f"\n\nThe review desk: {desk}\n")
            html = "".join(f"<p>{_escape(line)}</p>" for line in text_part.strip().split("\n") if line)
            message = OutboundEmail(edition_id=0, edition_slug=f"{NoticeSettings.slug_prefix}-failures-{through}",
                                    subject=f"syndicate: {len(lines)} failure(s) need attention", html=html,
                                    text=text_part, from_email=config.edition.from_email,
                                    from_name=config.edition.from_name, reply_to=config.edition.reply_to,
                                    categories=("staff-notice",))
            _send(config, message, staff_recipients(session, config), channel)  # raises: no marker, told next time
        events.record_event(session, NOTIFIED, "syndicate.staff", {"through": through, "told": len(lines)}, now=now)
    return lines
