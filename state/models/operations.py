"""Running it: events, staff, audit, WebSub, pauses, quiet time, slots, calendar feeds, the weekly note."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from state.models.base import Base
from state.models.gathering import SourceRow

# --- events, staff, audit -----------------------------------------------------------------------


class EventRow(Base):
    """Domain events, written in the same transaction as the change they announce (outbox pattern)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_unrelayed", "relayed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # e.g. syndicate.item.discovered
    resource_id: Mapped[str] = mapped_column(String(200))  # e.g. syndicate.item.42
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]
    relayed_at: Mapped[datetime | None]
    relay_attempts: Mapped[int] = mapped_column(Integer, default=0)
    relay_error: Mapped[str | None] = mapped_column(Text)


class StaffRow(Base):
    """A member of staff: their role, password hash, set-up link and sign-in state."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # editor | approver | admin
    password_hash: Mapped[str | None] = mapped_column(Text)
    setup_token_hash: Mapped[str | None] = mapped_column(String(64))
    setup_expires_at: Mapped[datetime | None]
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]  # no longer set: sign-in is throttled per account and address
    created_at: Mapped[datetime]
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disabled_at: Mapped[datetime | None]


class AuditRow(Base):
    """Who did what to which row, when, with the details (before and after for edits)."""

    __tablename__ = "audit_log"
    # a row's history (the edition page) and the latest of one action (the doctor): ranges, never a scan (0008)
    __table_args__ = (Index("ix_audit_log_subject", "subject_kind", "subject_id"),
                      Index("ix_audit_log_action_at", "action", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- push (WebSub) ------------------------------------------------------------------------------


class WebSubSubscriptionRow(Base):
    """A source's WebSub subscription: the hub and topic it advertises, and where our request stands.

    `state` is one of `state.websub.PushState` and changes only in `state.websub`. `secret` signs
    what the hub pushes (HMAC); it is stored to verify pushes and never logged or shown.
    """

    __tablename__ = "websub_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), unique=True)
    hub_url: Mapped[str] = mapped_column(Text)
    topic_url: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the opaque last segment of the callback URL
    secret: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="discovered", index=True)
    lease_seconds: Mapped[int | None] = mapped_column(Integer)
    discovered_at: Mapped[datetime]
    requested_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_hint: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    pushes: Mapped[int] = mapped_column(Integer, default=0)
    last_push_at: Mapped[datetime | None]
    rejected_pushes: Mapped[int] = mapped_column(Integer, default=0)
    last_rejected_at: Mapped[datetime | None]
    last_rejected_reason: Mapped[str | None] = mapped_column(Text)

    source: Mapped[SourceRow] = relationship()

    def __repr__(self) -> str:
        return f"WebSubSubscriptionRow(id={self.id!r}, source_id={self.source_id!r}, state={self.state!r})"


# --- pauses -------------------------------------------------------------------------------------


class PauseRow(Base):
    """A pause of every channel (`channel` "all") or of one ("email", "x", ...): while `resumed_at` is
    empty nothing goes out on it. Who paused it, when and why; who resumed it and when. Written only
    by `state.pauses`."""

    __tablename__ = "pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40), index=True)
    reason: Mapped[str] = mapped_column(Text)
    paused_by: Mapped[str] = mapped_column(String(320))
    paused_at: Mapped[datetime]
    resumed_by: Mapped[str | None] = mapped_column(String(320))
    resumed_at: Mapped[datetime | None] = mapped_column(index=True)


# --- quiet time (calendar) ----------------------------------------------------------------------


class QuietMoveRow(Base):
    """Why an edition's or thread's time is not the one it was due at: quiet time moved it
    (`due_at` -> `moved_to`, with `reasons`), or an admin overrode quiet time for it (`override_*`).
    One row per edition or thread, kept current by `state.quiet`; the audit log keeps the history."""

    __tablename__ = "quiet_moves"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_id", name="uq_quiet_moves_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(20))  # edition | thread
    subject_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))  # email, or the thread's network
    due_at: Mapped[datetime]  # when it was due before quiet time moved it
    moved_to: Mapped[datetime | None]  # where quiet time moved it (None: not moved, e.g. only overridden)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    recorded_at: Mapped[datetime]
    override_by: Mapped[str | None] = mapped_column(String(320))
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_at: Mapped[datetime | None]


# --- posting slots ------------------------------------------------------------------------------


class ThreadSlotRow(Base):
    """The time a thread goes out when it is not simply "when due": the posting slot it holds in
    its network's weekly grid (`compose.slots`; one thread per slot, enforced by the unique
    constraint, so two workers never give one slot to two threads), or a time staff fixed by hand
    (`slot_at` empty, `set_by` named). Written only by `state.slots`."""

    __tablename__ = "thread_slots"
    __table_args__ = (UniqueConstraint("network", "slot_at", name="uq_thread_slots_network_slot_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), unique=True)
    network: Mapped[str] = mapped_column(String(20))
    slot_at: Mapped[datetime | None]  # the slot held; None: a time staff fixed off the grid
    set_by: Mapped[str | None] = mapped_column(String(320))  # who moved it there; None: taken in approval order
    at: Mapped[datetime]  # when it was taken or moved


# --- calendar feeds -----------------------------------------------------------------------------


class CalendarFeedRow(Base):
    """A member of staff's iCalendar feed link: the random nonce their signed link carries.

    A new nonce resets the link (the old one stops working); disabling the member of staff deletes
    the row, so their feed ends with their account (`state.calendar_feeds`)."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"CalendarFeedRow(id={self.id!r}, staff_id={self.staff_id!r})"


# --- the weekly note to staff -------------------------------------------------------------------


class WeeklyNoteRow(Base):
    """The weekly note to staff for one week (`week_start`, the Monday of the week it reports on, in
    the organisation's zone): claimed before it is sent, so it goes once. `sent_at` set: it went;
    `error` set and no `sent_at`: the send failed before anything left, and the next run tries
    again; neither: a send under way, or one that died mid-way (never sent blindly again). Written
    only by `state.weekly_note`."""

    __tablename__ = "weekly_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, unique=True)
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    claimed_by: Mapped[str] = mapped_column(String(320))  # who asked: the schedule, or a member of staff
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)



# --- the JSON API and outgoing webhooks ----------------------------------------------------------


class ApiTokenRow(Base):
    """A bearer token of the JSON API (`/api/v1`), made by an admin: only its SHA-256 is kept (the
    token itself is shown once). `scope` is read or write; a revoked token is refused at once.
    Written only by `state.api_tokens`."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(10))  # read | write
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(20))  # the first characters, so staff recognise a token
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(320))

    def __repr__(self) -> str:
        return f"ApiTokenRow(id={self.id!r}, name={self.name!r}, scope={self.scope!r})"


class WebhookEndpointRow(Base):
    """Where outgoing webhooks go, and which events. The signing secret is not stored: it is derived
    from the ledger's secret key and this row's random `salt` (`state.webhooks.signing_secret`), so a
    copy of the ledger alone cannot sign. `after_event_id`: the last `events` row looked at for it."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column(default=list)
    salt: Mapped[str] = mapped_column(String(64))
    after_event_id: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(320))

    def __repr__(self) -> str:
        return f"WebhookEndpointRow(id={self.id!r}, url={self.url!r})"


class WebhookDeliveryRow(Base):
    """One event for one endpoint: its body (signed as is on every attempt), its attempts and their
    outcome. `delivered_at` set: the endpoint answered 2xx; `gave_up_at` set: the last attempt failed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_row_id"),
                      Index("ix_webhook_deliveries_due", "delivered_at", "gave_up_at", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    event_row_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)  # the webhook-id header
    event: Mapped[str] = mapped_column(String(60))  # e.g. subscriber.subscribed
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    gave_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
