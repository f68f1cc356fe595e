"""Stage 4, deliver: send approved editions to their subscribers, exactly once each.

`deliver_edition` plans the recipients once (frozen at send start), then workers claim batches
from the ledger, send each batch in one provider request and record the answer. The ledger is
committed before each request leaves and after each answer, so a crash at any point resumes
with `deliver_edition` again: accepted batches are never resent, and a batch that was in flight
when the process died is held as ambiguous for staff (`state.deliveries.resolve_ambiguous`).

A pause of the email (`state.pauses`) is asked in the ledger before an edition starts and before
each batch is claimed, right after the reputation guard (`state.reputation`, which pauses the email
itself when complaints or bounces reach `[reputation]`'s stop thresholds): a send under way stops at its next batch, the edition stays `sending`, and
the first run after the resume goes on with the batches still planned.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compose.calendar import QuietCalendar
from compose.clicks import READER_TOKEN
from compose.config import Config
from compose.edition import edition_content_hash
from compose.email import SectionEmails, counted_link
from compose.segments import set_of
from compose.signing import (
    preferences_tokens,
    preferences_url,
    reader_suffix,
    unsubscribe_tokens,
    unsubscribe_url,
)
from connectors.channels import email_channel
from connectors.channels.base import EmailChannel, OutboundEmail, Recipient
from connectors.channels.outbox_email import OutboxEmailChannel
from connectors.channels.sendgrid import SendGridChannel
from connectors.errors import AmbiguousError, AuthError, PermanentError, TransientError
from state import clicks, deliveries, ledger, pauses, quiet, reputation
from state import figures as figures_ledger
from state.db import Database
from state.editions import edition_value
from state.models import (
    BatchStatus,
    DeliveryBatchRow,
    EditionRow,
    EditionStatus,
    SubscriberRow,
    SubscriberStatus,
)
from state.secret_key import key_fingerprint, record_signing_key


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    edition_id: int | None
    recipients: int = 0
    accepted: int = 0
    failed: int = 0
    ambiguous: int = 0
    skipped: int = 0
    message: str = ""
    channel: str = ""
    sent: bool = False
    paused: dict[str, object] | None = None  # the pause that stopped it (`Pause.as_dict`, and "said")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class DeliveryLimits:
    max_transient_attempts = 5  # a batch refused this often (429, connect errors) is FAILED with the reason
    max_wait_s = 120.0  # wait in-process for a rate-limit reset at most this long; later runs resume
    backoff_s = 1.0  # first retry delay when the provider gives none (doubles per attempt)


def sender_name() -> str:
    """This process's name in the delivery ledger: `$SYNDICATE_WORKER_NAME` (or the host) and the pid."""
    return f"{os.environ.get('SYNDICATE_WORKER_NAME') or socket.gethostname()}:{os.getpid()}"


def choose_channel(config: Config, env: Mapping[str, str] | None = None) -> tuple[EmailChannel, str]:
    """SendGrid when configured and credentials exist, else the outbox; and a sentence saying which."""
    channel = email_channel(config, env)
    if isinstance(channel, SendGridChannel):
        return channel, f"via SendGrid ({channel.host})"
    assert isinstance(channel, OutboxEmailChannel)
    return channel, outbox_note(config, channel)


def outbox_note(config: Config, channel: OutboxEmailChannel, message: OutboundEmail | None = None) -> str:
    """Where outbox messages went, in words: not emailed, written as files in this folder."""
    why = "SENDGRID_API_KEY is not set, so " if config.email.provider == "sendgrid" else ""
    folder = channel.folder(message) if message is not None else channel.root / "email"
    return f"{why}nothing was emailed: the messages were written to the outbox, in {folder.as_posix()}/"


def due_edition_ids(db: Database, *, now: datetime) -> list[int]:
    """Approved editions whose send time has come, and editions whose send was interrupted."""
    with db.session() as session:
        rows = session.scalars(select(EditionRow.id).where(
            ((EditionRow.status == EditionStatus.APPROVED) & (EditionRow.scheduled_for <= now))
            | (EditionRow.status == EditionStatus.SENDING)).order_by(EditionRow.id)).all()
    return list(rows)


def deliver_edition(db: Database, config: Config, *, now: datetime, edition_id: int | None = None,
                    channel: EmailChannel | None = None, secret_key: str, worker: str | None = None) -> DeliverySummary:
    """Send one edition now (`edition_id`), or every edition that is due; returns what happened.

    `worker` names this sender in the ledger (`claimed_by`); by default `sender_name()`, unique per
    live process, so two senders never mistake each other's batches for their own."""
    worker = worker or sender_name()
    note = ""
    if channel is None:
        channel, note = choose_channel(config)
    if edition_id is not None:
        return _deliver_one(db, config, edition_id, channel=channel, note=note, now=now, secret_key=secret_key,
                            worker=worker)
    summaries = [_deliver_one(db, config, ident, channel=channel, note=note, now=now, secret_key=secret_key,
                              worker=worker) for ident in due_edition_ids(db, now=now)]
    if not summaries:
        return DeliverySummary(None, message="no approved edition is due", channel=channel.name)
    if len(summaries) == 1:
        return summaries[0]
    return DeliverySummary(
        None, recipients=sum(s.recipients for s in summaries), accepted=sum(s.accepted for s in summaries),
        failed=sum(s.failed for s in summaries), ambiguous=sum(s.ambiguous for s in summaries),
        skipped=sum(s.skipped for s in summaries), channel=channel.name,
        message="; ".join(s.message for s in summaries), sent=all(s.sent for s in summaries),
        paused=next((s.paused for s in summaries if s.paused), None))


def _summary(edition_id: int, figures: Mapping[str, int], message: str, channel: str, sent: bool,
             paused: dict[str, object] | None = None) -> DeliverySummary:
    return DeliverySummary(edition_id, recipients=figures["recipients"], accepted=figures["accepted"],
                           failed=figures["failed"], ambiguous=figures["ambiguous"], skipped=figures["skipped"],
                           message=message, channel=channel, sent=sent, paused=paused)


def _paused(pause: pauses.Pause | None, config: Config) -> dict[str, object] | None:
    """The pause for the summary: who, since when, why, and all of it as staff read it (`said`)."""
    return None if pause is None else pause.as_dict() | {"said": pause.describe(config.zone)}


def paused_note(pause: pauses.Pause, config: Config) -> str:
    """Why nothing more goes out, and what lets it go: for the summary's message."""
    return (f"{pause.describe(config.zone)}; it goes on where it stopped after "
            f"`syndicate resume --by EMAIL` (or Resume on the desk)")


def _start(db: Database, config: Config, edition_id: int, channel: EmailChannel, *, now: datetime,
           worker: str, secret_key: str) -> tuple[_Message | None, str, pauses.Pause | None]:
    """Check approval, mark the edition sending, plan it; or say why nothing will be sent (and the
    pause that stops it, if one does)."""
    with db.session() as session:
        row = ledger.get_edition(session, edition_id)
        if row.status == EditionStatus.SENT:
            figures = deliveries.edition_figures(session, edition_id)
            return None, f"edition {edition_id} was already sent to {figures['accepted']} recipients", None
        reputation.guard(session, config.reputation, now=now, sending=edition_id)  # may pause email
        pause = pauses.stopping(session, pauses.EMAIL)
        if pause is not None:
            return None, f"edition {edition_id} was not sent: {paused_note(pause, config)}", pause
        if row.key_fingerprint not in (None, key_fingerprint(secret_key)):
            return None, (f"edition {edition_id} was not sent: its first messages were signed with another secret "
                          "key; set SYNDICATE_SECRET_KEY back to that key to finish it"), None
        if row.status in (EditionStatus.APPROVED, EditionStatus.SENDING):
            waits = quiet.hold_if_quiet(session, QuietCalendar.from_config(config), row, now=now)
            if waits:  # inside quiet time: its time moved to the next allowed moment, nothing is sent
                return None, waits, None
        try:
            ledger.mark_edition_sending(session, row)
            record_signing_key(row, secret_key)
        except ledger.LedgerError as exc:
            session.rollback()
            return None, f"edition {edition_id} was not sent: {exc}", None
        if not _has_deliveries(session, edition_id) and not _active(session):
            session.rollback()
            return None, f"edition {edition_id} was not sent: there are no active subscribers", None
        bodies = _Bodies(session, row, config)
        deliveries.plan(session, row, batch_size=min(config.email.batch_size, channel.max_batch_size), now=now,
                        channel=channel.name, bodies=bodies.content_hash)
        deliveries.recover_interrupted(session, edition_id, worker=worker, now=now,
                                       stale_after=timedelta(seconds=2 * config.email.timeout_s + 30))
        changed = bodies.changed_since_planning(session)
        if changed:
            session.commit()
            return None, (f"edition {edition_id} was not sent further: {changed}"), None
        messages = {key: bodies.message(key, secret_key=secret_key) for key in bodies.unsent_keys(session)}
    return _Message(messages.get(None) or bodies.message(None, secret_key=secret_key), messages), "", None


class _Bodies:
    """The bodies of one edition: the whole edition as approved (set key None: its stored HTML and
    text), and one email per other section set, rendered once each from the stored edition
    (`compose.email.SectionEmails`, only when a reader's set needs it)."""

    def __init__(self, session: Session, row: EditionRow, config: Config) -> None:
        self.row, self.config = row, config
        self._emails: SectionEmails | None = None
        self._session = session

    def emails(self) -> SectionEmails:
        if self._emails is None:
            self._emails = SectionEmails(edition_value(self._session, self.row, self.config), config=self.config,
                                         link_for=counted_link(self.config))
        return self._emails

    def parts(self, key: str | None) -> tuple[str, str, str]:
        """(subject, HTML, text, before signing) of the email for the section set `key`."""
        if key is None:
            return self.row.subject, self.row.html, self.row.text
        rendered = self.emails().render(set_of(key))
        return rendered.subject, rendered.html, rendered.text

    def content_hash(self, key: str | None) -> str:
        """What the email for `key` hashes to: the approved hash for the whole edition; for a section
        set, `edition_content_hash` of that set's edition and its email."""
        if key is None:
            return self.row.content_hash
        emails = self.emails()
        sections = set_of(key)
        return edition_content_hash(emails.edition_for(sections), emails.render(sections))

    def unsent_keys(self, session: Session) -> list[str | None]:
        """The section sets of batches that may still go (ambiguous ones too: staff may resend them)."""
        return list(session.scalars(select(DeliveryBatchRow.sections).distinct().where(
            DeliveryBatchRow.edition_id == self.row.id,
            DeliveryBatchRow.status.in_([BatchStatus.PLANNED, BatchStatus.SENDING, BatchStatus.AMBIGUOUS]))))

    def changed_since_planning(self, session: Session) -> str:
        """Why the email of a section set still to send differs from the one planned ("" when none
        does): a resumed send goes on with exactly the bodies it started with, or not at all."""
        planned = session.execute(select(DeliveryBatchRow.sections, DeliveryBatchRow.content_hash).distinct().where(
            DeliveryBatchRow.edition_id == self.row.id, DeliveryBatchRow.content_hash.is_not(None),
            DeliveryBatchRow.status.in_([BatchStatus.PLANNED, BatchStatus.SENDING]))).all()
        for key, planned_hash in planned:
            if self.content_hash(key) != planned_hash:
                return (f"the email for readers of {key or 'every section'} no longer renders as it did when the "
                        "send began (an item or the config changed since): put the config back, or ask staff to "
                        "resolve the batches still planned")
        return ""

    def message(self, key: str | None, *, secret_key: str) -> OutboundEmail:
        subject, html_in, text_in = self.parts(key)
        html_part, text_part = clicks.as_sent(self.row, self.config, secret_key=secret_key,
                                              parts=(html_in, text_in))  # signed article links
        edition = self.config.edition
        return OutboundEmail(
            edition_id=self.row.id, edition_slug=self.row.slug, subject=subject, html=html_part, text=text_part,
            from_email=edition.from_email, from_name=edition.from_name, reply_to=edition.reply_to,
            categories=tuple(self.config.email.categories),
            list_unsubscribe_mailto=f"mailto:{edition.reply_to}?subject=unsubscribe",
        )


@dataclass(frozen=True, slots=True)
class _Message:
    """The message of the whole edition and the message of each section set still to send."""

    whole: OutboundEmail
    by_sections: Mapping[str | None, OutboundEmail]

    @property
    def edition_id(self) -> int:
        return self.whole.edition_id

    def for_batch(self, sections: str | None) -> OutboundEmail:
        """The one body of a batch of this section set; never another set's (refused instead)."""
        if sections is None:
            return self.by_sections.get(None) or self.whole
        if sections not in self.by_sections:
            raise LookupError(f"no email was prepared for readers of {sections} in this run: the next run sends it")
        return self.by_sections[sections]


def _has_deliveries(session: Session, edition_id: int) -> bool:
    return bool(deliveries.edition_figures(session, edition_id)["recipients"])


def _active(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SubscriberRow)
                          .where(SubscriberRow.status == SubscriberStatus.ACTIVE)) or 0


def _deliver_one(db: Database, config: Config, edition_id: int, *, channel: EmailChannel, note: str, now: datetime,
                 secret_key: str, worker: str) -> DeliverySummary:
    message, refusal, pause = _start(db, config, edition_id, channel, now=now, worker=worker, secret_key=secret_key)
    if message is None:
        with db.session() as session:
            figures = deliveries.edition_figures(session, edition_id)
        return _summary(edition_id, figures, refusal, channel.name, sent=refusal.find("already sent") >= 0,
                        paused=_paused(pause, config))
    if isinstance(channel, OutboxEmailChannel):
        note = outbox_note(config, channel, message.whole)
    run = _Run(db, config, channel, message, now=now, secret_key=secret_key, worker=worker)
    with ThreadPoolExecutor(max_workers=config.email.concurrency, thread_name_prefix="deliver") as pool:
        for future in [pool.submit(run.work) for _ in range(config.email.concurrency)]:
            future.result()
    return run.finish(note)


class _Run:
    """One sending run of one edition: workers share the stop flag and the clock."""

    def __init__(self, db: Database, config: Config, channel: EmailChannel, message: _Message, *,
                 now: datetime, secret_key: str, worker: str) -> None:
        self.db, self.config, self.channel, self.message = db, config, channel, message
        self.secret_key, self.worker = secret_key, worker
        self._start, self._t0 = now, time.monotonic()
        self.stop = threading.Event()
        self.stop_reason = ""
        self.paused: pauses.Pause | None = None

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)

    def work(self) -> None:
        while not self.stop.is_set():
            with self.db.session() as session:  # before every batch: the reputation guard, then the pauses
                reputation.guard(session, self.config.reputation, now=self.now(), sending=self.message.edition_id)
                pause = pauses.stopping(session, pauses.EMAIL)  # a pause stops it here
                if pause is not None:
                    self.paused = self.paused or pause
                    self.stop.set()
                    return
                claimed = deliveries.claim_next_batch(session, self.message.edition_id, worker=self.worker,
                                                      now=self.now())
            if claimed is None:
                if not self._wait_for_retry():
                    return
                continue
            self._send(claimed)

    def _wait_for_retry(self) -> bool:
        with self.db.session() as session:
            due = deliveries.next_retry_at(session, self.message.edition_id)
        if due is None:
            return False
        wait = (due - self.now()).total_seconds()
        if wait > DeliveryLimits.max_wait_s or (time.monotonic() - self._t0) + wait > 4 * DeliveryLimits.max_wait_s:
            return False
        self.stop.wait(max(0.0, wait) + 0.01)
        return True

    def _recipients(self, claimed: deliveries.ClaimedBatch, message: OutboundEmail) -> list[Recipient]:
        ids = [r.subscriber_id for r in claimed.recipients]
        tokens = unsubscribe_tokens(self.secret_key, edition_id=claimed.edition_id, subscriber_ids=ids, now=self.now())
        settings = preferences_tokens(self.secret_key, readers=[(r.subscriber_id, r.email) for r in claimed.recipients],
                                      now=self.now())
        public = str(self.config.edition.public_url)
        # [tracking] per-reader clicks or the open pixel, and the approved email says so (`clicks.as_sent`)
        named = READER_TOKEN in message.html or READER_TOKEN in message.text
        return [Recipient(r.subscriber_id, r.email, r.name, unsubscribe_url(public, token),
                          reader_suffix(self.secret_key, edition_id=claimed.edition_id, subscriber_id=r.subscriber_id)
                          if named else "", preferences_url(public, setting))
                for r, token, setting in zip(claimed.recipients, tokens, settings, strict=True)]

    def _send(self, claimed: deliveries.ClaimedBatch) -> None:
        batch = claimed.batch_id
        try:
            message = self.message.for_batch(claimed.sections)  # the one body of this batch's section set
            receipt = self.channel.send_batch(message, self._recipients(claimed, message)) if claimed.recipients else None
        except AuthError as exc:
            self.stop_reason = str(exc)
            self.stop.set()
            self._record(deliveries.release, batch, error=str(exc), not_before=None)
        except TransientError as exc:
            if claimed.attempts >= DeliveryLimits.max_transient_attempts:
                self._record(deliveries.mark_failed, batch, error=f"gave up after {claimed.attempts} attempts: {exc}")
                return
            wait = exc.retry_after_s if exc.retry_after_s is not None else DeliveryLimits.backoff_s * 2 ** (claimed.attempts - 1)
            self._record(deliveries.release, batch, error=str(exc), not_before=self.now() + timedelta(seconds=wait))
        except PermanentError as exc:
            if exc.status == 413:
                with self.db.session() as session:
                    deliveries.split(session, batch, now=self.now())
            else:
                self._record(deliveries.mark_failed, batch, error=str(exc))
        except AmbiguousError as exc:
            self._record(deliveries.mark_ambiguous, batch, error=str(exc))
        except Exception as exc:  # a bug or an unknown library error: the request may have left
            self._record(deliveries.mark_ambiguous, batch, error=f"unexpected {type(exc).__name__}: {exc}")
        else:
            with self.db.session() as session:
                deliveries.mark_accepted(session, batch, provider_id=receipt.provider_id if receipt else None,
                                         rejected=receipt.rejected if receipt else {}, now=self.now())

    def _record(self, transition: Callable[..., object], batch: int, **kwargs: object) -> None:
        with self.db.session() as session:
            transition(session, batch, now=self.now(), **kwargs)

    def finish(self, note: str) -> DeliverySummary:
        edition_id = self.message.edition_id
        with self.db.session() as session:
            figures = deliveries.edition_figures(session, edition_id)
            counts = deliveries.batch_counts(session, edition_id)
            skips = deliveries.skip_reasons(session, edition_id) if figures["skipped"] else {}
            done = counts["planned"] == counts["sending"] == counts["ambiguous"] == 0
            row = session.get(EditionRow, edition_id, with_for_update=True)
            if done and row is not None and row.status == EditionStatus.SENDING:  # another worker may have done it
                ledger.mark_edition_sent(session, row, now=self.now(), summary=figures)
                figures_ledger.settle(session, edition_id, now=self.now())  # its status counts are final
        said = f"edition {edition_id}: {figures['accepted']} of {figures['recipients']} recipients accepted"
        extras = [f"{figures[k]} {k}" for k in ("failed", "skipped", "ambiguous") if figures[k]]
        if skips and (len(skips) > 1 or "left before sending" not in skips):  # why readers got nothing
            extras[[e.endswith(" skipped") for e in extras].index(True)] += ": " + "; ".join(
                f"{count} {reason}" for reason, count in skips.items())
        if extras:
            said += f" ({', '.join(extras)})"
        if self.paused is not None and not done:
            said += f"; {paused_note(self.paused, self.config)}"
        elif self.stop_reason:
            said += f"; stopped: {self.stop_reason}"
        elif counts["ambiguous"]:
            said += (f"; {counts['ambiguous']} batch(es) are ambiguous and held for staff: check the provider, then "
                     "resend or mark them sent")
        elif counts["planned"]:
            said += f"; {counts['planned']} batch(es) wait to retry (the next run resumes them)"
        if done:
            said += "; edition marked sent"
        return _summary(edition_id, figures, f"{said}; {note}" if note else said, self.channel.name, sent=done,
                        paused=None if done else _paused(self.paused, self.config))
