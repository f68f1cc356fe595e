"""SQLAlchemy 2 models: the ledger of what was gathered, composed, approved and sent.

Tables are plural nouns of the domain. Statuses are StrEnums, each with its table of allowed
transitions (`Lifecycle`, beside the enums), changed only by the ledger's functions in `state/`.
Times are stored in UTC (`UTCDateTime` makes them timezone-aware on every backend).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from compose.items import KEY_MAX_CHARS

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Refuse a naive time; store an aware one in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger: pass a timezone-aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read a stored time back as an aware UTC time (SQLite keeps none)."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of every ledger table (naming convention, UTC times, JSON columns)."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}

    if TYPE_CHECKING:
        # Every model here maps one Table; SQLAlchemy types `__table__` as the wider FromClause.
        __table__: ClassVar[Table]


# --- statuses -----------------------------------------------------------------------------------


class EditionStatus(StrEnum):
    """Where an edition stands, from draft to sent; moves only as `EDITION_LIFECYCLE` allows."""

    DRAFT = "draft"  # built, waiting for approval
    APPROVED = "approved"  # approved for its content hash, waiting for its send time
    REJECTED = "rejected"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    HELD = "held"  # its send time came while it was not approved: never sent, staff notified


class ThreadStatus(StrEnum):
    """Where a thread of posts stands on its network; moves only as `THREAD_LIFECYCLE` allows."""

    DRAFT = "draft"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"  # stopped: needs staff (auth, reply refused with fallback "stop", ambiguous post)
    CANCELLED = "cancelled"


class PostStatus(StrEnum):
    """Where one post of a thread stands; moves only as `POST_LIFECYCLE` allows."""

    PENDING = "pending"
    POSTING = "posting"  # the request is about to leave / has left
    POSTED = "posted"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    AMBIGUOUS = "ambiguous"


class SubscriberStatus(StrEnum):
    """Whether we may send to a subscriber; moves only as `SUBSCRIBER_LIFECYCLE` allows (leaving is final, but for a
    fresh opt-in)."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class DeliveryStatus(StrEnum):
    """Where one edition's message to one subscriber stands; moves only as `DELIVERY_LIFECYCLE` allows."""

    PLANNED = "planned"
    SENDING = "sending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    SKIPPED = "skipped"  # the subscriber left between planning and sending


class BatchStatus(StrEnum):
    """Where one provider request (a batch of deliveries) stands; moves only as `BATCH_LIFECYCLE` allows."""

    PLANNED = "planned"
    SENDING = "sending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"


# --- allowed transitions ------------------------------------------------------------------------
#
# One table per status enum: the statuses a new row may start in, and for each status the statuses
# it may move to. `state.lifecycle.check_transition` holds every change of status against its table
# (the ledger's functions call it before they write); tests/test_ledger_transitions.py walks every
# pair the tables leave out and checks the ledger refuses it.


S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Lifecycle(Generic[S]):
    """The allowed statuses of one kind of ledger row: where a new row starts, and each allowed move."""

    row: str  # the row's name in messages: "edition", "delivery batch", ...
    status: type[S]
    initial: frozenset[S]
    moves: Mapping[S, frozenset[S]]

    def allows(self, frm: str, to: str) -> bool:
        """True when a row in `frm` may move to `to`."""
        return to in self.moves.get(self.status(frm), frozenset())

    def sources(self, to: str) -> frozenset[S]:
        """Every status a row may move to `to` from."""
        return frozenset(frm for frm, targets in self.moves.items() if to in targets)


_E = EditionStatus
EDITION_LIFECYCLE = Lifecycle("edition", EditionStatus, initial=frozenset({_E.DRAFT}), moves={
    # edit -> draft; approve, reject, cancel; hold when its send time passes unapproved
    _E.DRAFT: frozenset({_E.DRAFT, _E.APPROVED, _E.REJECTED, _E.CANCELLED, _E.HELD}),
    _E.APPROVED: frozenset({_E.DRAFT, _E.APPROVED, _E.REJECTED, _E.CANCELLED, _E.SENDING}),
    _E.REJECTED: frozenset({_E.DRAFT, _E.APPROVED, _E.REJECTED, _E.CANCELLED}),
    _E.HELD: frozenset({_E.DRAFT, _E.APPROVED, _E.REJECTED, _E.CANCELLED}),
    _E.SENDING: frozenset({_E.SENDING, _E.SENT}),  # a send resumed after a crash stays sending
    _E.SENT: frozenset(),
    _E.CANCELLED: frozenset({_E.DRAFT, _E.REJECTED, _E.CANCELLED}),
})

_T = ThreadStatus
THREAD_LIFECYCLE = Lifecycle("thread", ThreadStatus, initial=frozenset({_T.DRAFT, _T.FAILED}), moves={
    # FAILED at creation: an item the network cannot take (recorded once for staff)
    _T.DRAFT: frozenset({_T.DRAFT, _T.APPROVED, _T.REJECTED, _T.CANCELLED}),
    _T.APPROVED: frozenset({_T.DRAFT, _T.APPROVED, _T.REJECTED, _T.CANCELLED, _T.PUBLISHING, _T.PUBLISHED,
                            _T.FAILED}),
    _T.REJECTED: frozenset({_T.DRAFT, _T.APPROVED, _T.REJECTED, _T.CANCELLED}),
    # a post that failed but may be retried puts its thread back to approved
    _T.PUBLISHING: frozenset({_T.APPROVED, _T.PUBLISHED, _T.FAILED}),
    _T.PUBLISHED: frozenset(),
    _T.FAILED: frozenset({_T.DRAFT, _T.REJECTED, _T.CANCELLED}),
    _T.CANCELLED: frozenset({_T.DRAFT, _T.REJECTED, _T.CANCELLED}),
})

_P = PostStatus
POST_LIFECYCLE = Lifecycle("post", PostStatus, initial=frozenset({_P.PENDING}), moves={
    _P.PENDING: frozenset({_P.POSTING, _P.FAILED}),
    _P.POSTING: frozenset({_P.POSTED, _P.FAILED, _P.AMBIGUOUS, _P.DUPLICATE}),
    _P.FAILED: frozenset({_P.POSTING, _P.FAILED}),
    _P.AMBIGUOUS: frozenset({_P.AMBIGUOUS, _P.FAILED}),
    # a thread over its limit is stopped on its first post even when that one went out (see the report)
    _P.POSTED: frozenset({_P.FAILED}),
    _P.DUPLICATE: frozenset({_P.FAILED}),
})

_S = SubscriberStatus
SUBSCRIBER_LIFECYCLE = Lifecycle("subscriber", SubscriberStatus, initial=frozenset({_S.PENDING, _S.ACTIVE}), moves={
    # ACTIVE at creation: an import (the file is the consent); PENDING: a sign-up waiting for its confirmation
    _S.PENDING: frozenset({_S.ACTIVE, _S.UNSUBSCRIBED, _S.BOUNCED, _S.COMPLAINED}),
    _S.ACTIVE: frozenset({_S.UNSUBSCRIBED, _S.BOUNCED, _S.COMPLAINED}),
    _S.UNSUBSCRIBED: frozenset({_S.ACTIVE, _S.BOUNCED, _S.COMPLAINED}),  # ACTIVE: a fresh double opt-in
    # UNSUBSCRIBED from BOUNCED or COMPLAINED: only an admin lifting the suppression (state.subscribers.lift_suppression)
    _S.BOUNCED: frozenset({_S.UNSUBSCRIBED, _S.COMPLAINED}),
    _S.COMPLAINED: frozenset({_S.UNSUBSCRIBED}),
})

_D = DeliveryStatus
DELIVERY_LIFECYCLE = Lifecycle("delivery", DeliveryStatus, initial=frozenset({_D.PLANNED}), moves={
    _D.PLANNED: frozenset({_D.SENDING, _D.SKIPPED}),
    _D.SENDING: frozenset({_D.ACCEPTED, _D.FAILED, _D.AMBIGUOUS, _D.PLANNED}),
    _D.AMBIGUOUS: frozenset({_D.ACCEPTED, _D.FAILED, _D.PLANNED}),  # a late answer, or staff's decision
    _D.ACCEPTED: frozenset(),
    _D.FAILED: frozenset(),
    _D.SKIPPED: frozenset(),
})

_B = BatchStatus
BATCH_LIFECYCLE = Lifecycle("delivery batch", BatchStatus, initial=frozenset({_B.PLANNED}), moves={
    _B.PLANNED: frozenset({_B.SENDING}),
    _B.SENDING: frozenset({_B.ACCEPTED, _B.FAILED, _B.AMBIGUOUS, _B.PLANNED}),  # PLANNED: safe to retry
    _B.AMBIGUOUS: frozenset({_B.ACCEPTED, _B.PLANNED}),  # a late answer, or staff's decision
    _B.ACCEPTED: frozenset(),
    _B.FAILED: frozenset(),
})

LIFECYCLES: tuple[Lifecycle[Any], ...] = (EDITION_LIFECYCLE, THREAD_LIFECYCLE, POST_LIFECYCLE, SUBSCRIBER_LIFECYCLE,
                                          DELIVERY_LIFECYCLE, BATCH_LIFECYCLE)


def _now() -> datetime:
    return datetime.now(UTC)


# --- gathering ----------------------------------------------------------------------------------


class SourceRow(Base):
    """A configured source (feed or page) and the health of its last fetches, with its conditional-GET cursor."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text)
    section: Mapped[str] = mapped_column(String(50))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    moved_to: Mapped[str | None] = mapped_column(Text)  # a permanent redirect seen, reported to staff
    first_gathered_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_hint: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    last_elapsed_ms: Mapped[float] = mapped_column(default=0.0)
    last_items_new: Mapped[int] = mapped_column(Integer, default=0)
    last_items_updated: Mapped[int] = mapped_column(Integer, default=0)
    retry_after: Mapped[datetime | None]


class ItemRow(Base):
    """Something a source published, once however many sources list it (by its key), with its revision."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX_CHARS), unique=True)  # url, guid:, hash: or long:
    url: Mapped[str] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    summary_html: Mapped[str] = mapped_column(Text, default="")
    summary_text: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    section: Mapped[str] = mapped_column(String(50), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime]  # published, else updated, else first seen
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(Integer, default=1)
    backlog: Mapped[bool] = mapped_column(Boolean, default=False)  # there before its source was first gathered

    source: Mapped[SourceRow] = relationship()


# --- composing, approving -----------------------------------------------------------------------


class EditionRow(Base):
    """An edition of the newsletter: its rendered email, its content hash (what approval binds to) and its status."""

    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[EditionStatus] = mapped_column(String(20), default=EditionStatus.DRAFT, index=True)
    subject: Mapped[str] = mapped_column(Text)
    preheader: Mapped[str] = mapped_column(Text, default="")
    intro_markdown: Mapped[str] = mapped_column(Text, default="")
    featured_item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    html_bytes: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    warnings_acknowledged_by: Mapped[str | None] = mapped_column(String(320))
    scheduled_for: Mapped[datetime | None]
    built_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # which secret key signed this edition's links: a keyed hash (state.secret_key), never the key
    key_fingerprint: Mapped[str | None] = mapped_column(String(64))

    items: Mapped[list[EditionItemRow]] = relationship(
        back_populates="edition", order_by="(EditionItemRow.section_position, EditionItemRow.position)",
        cascade="all, delete-orphan",
    )


class EditionItemRow(Base):
    """An item's place in an edition: its section and position."""

    __tablename__ = "edition_items"
    __table_args__ = (UniqueConstraint("edition_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    section: Mapped[str] = mapped_column(String(50))
    section_position: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)

    edition: Mapped[EditionRow] = relationship(back_populates="items")
    item: Mapped[ItemRow] = relationship()


class ThreadRow(Base):
    """A thread of posts for one network (an item's post or an edition's roundup), approved and published as one."""

    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("network", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200))  # e.g. "item:42" or "edition:2026-11-26"
    kind: Mapped[str] = mapped_column(String(20))  # "item" or "roundup"
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id"))
    status: Mapped[ThreadStatus] = mapped_column(String(20), default=ThreadStatus.DRAFT, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    scheduled_for: Mapped[datetime | None]
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # a roundup's posts as derived from its edition when last written from it (content_hash differs:
    # edited by hand, and no longer rewritten when the edition changes)
    derived_hash: Mapped[str | None] = mapped_column(String(64))
    status_reason: Mapped[str | None] = mapped_column(Text)  # why it was cancelled
    link_placement: Mapped[str | None] = mapped_column(String(10))  # staff's choice; None: the config's

    posts: Mapped[list[PostRow]] = relationship(
        back_populates="thread", order_by="PostRow.position", cascade="all, delete-orphan"
    )


class PostRow(Base):
    """One post of a thread, with the network's id once it went out."""

    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("thread_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[PostStatus] = mapped_column(String(20), default=PostStatus.PENDING)
    provider_id: Mapped[str | None] = mapped_column(Text)
    provider_url: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None]

    thread: Mapped[ThreadRow] = relationship(back_populates="posts")


class ApprovalRow(Base):
    """A decision by a named member of staff on the exact content (its hash)."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_subject", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(20))  # edition | thread
    subject_id: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(20))  # approved | rejected | voided
    by: Mapped[str] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


# --- delivering ---------------------------------------------------------------------------------


class SubscriberRow(Base):
    """Someone who may receive the newsletter, with the consent behind it and their status."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[SubscriberStatus] = mapped_column(String(20), default=SubscriberStatus.PENDING, index=True)
    consent_source: Mapped[str] = mapped_column(Text, default="")
    consent_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    status_changed_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class DeliveryBatchRow(Base):
    """One provider request carrying up to a batch of an edition's deliveries."""

    __tablename__ = "delivery_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[BatchStatus] = mapped_column(String(20), default=BatchStatus.PLANNED, index=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_id: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    not_before: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_by: Mapped[str | None] = mapped_column(String(320))  # staff decision on an ambiguous batch


class DeliveryRow(Base):
    """One edition to one subscriber: whether it went out, and what the provider reported after."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id"),
                      Index("ix_deliveries_edition_status", "edition_id", "status"))  # live figures

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_batches.id"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(String(20), default=DeliveryStatus.PLANNED, index=True)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # what happened after acceptance (from the provider's event webhook)
    delivered_at: Mapped[datetime | None]
    bounced_at: Mapped[datetime | None]
    complained_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    # more provider events (migration 0005_events; counted per edition in `EditionCountersRow`)
    blocked_at: Mapped[datetime | None]
    dropped_at: Mapped[datetime | None]
    deferred_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ProviderEventRow(Base):
    """Webhook events applied once each (idempotent by the provider's event id)."""

    __tablename__ = "provider_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]


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


# --- figures and suppression (issue 17: provider events, reputation) ---------------------------


class EditionCountersRow(Base):
    """An edition's figures kept as counters, so the desk reads one row instead of counting its
    deliveries (`state.figures`). The event counters move with `state.provider_events`, in the
    same transaction as the delivery they count (each delivery counted once per kind); the
    status counts (`recipients` .. `pending`) are frozen here when the edition is sent
    (`settled_at`), and counted live from the deliveries before that."""

    __tablename__ = "edition_counters"

    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    deferred: Mapped[int] = mapped_column(Integer, default=0)
    complaints: Mapped[int] = mapped_column(Integer, default=0)
    unsubscribes: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    clicked: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    ambiguous: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    settled_at: Mapped[datetime | None]  # status counts frozen (the edition was sent)
    updated_at: Mapped[datetime]


class SuppressionRow(Base):
    """An address we never write to again: it hard-bounced or its owner reported us as spam.

    Kept by address (lower case), apart from the subscriber's status, so that no import, sign-up,
    confirmation or status change makes it active again. Only an admin lifts one, saying why
    (`state.subscribers.lift_suppression`, audited); the row stays, with who lifted it and when."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)  # lower case
    kind: Mapped[str] = mapped_column(String(20))  # "bounce" or "complaint"
    detail: Mapped[str] = mapped_column(Text, default="")  # the provider's reason, as reported
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id", ondelete="SET NULL"))
    suppressed_at: Mapped[datetime]
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(320))
    lifted_reason: Mapped[str | None] = mapped_column(Text)


class ReputationTripRow(Base):
    """The reputation guard warned staff, or paused the email, for one scope (`key`: "edition-12",
    or "window-12", the span of days ending with edition 12's send): once per key and level, so
    a resume by an admin is not undone by the next event about the same numbers
    (`state.reputation`)."""

    __tablename__ = "reputation_trips"
    __table_args__ = (UniqueConstraint("key", "level", name="uq_reputation_trips_key_level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))  # "warn" or "stop"
    said: Mapped[str] = mapped_column(Text)  # the sentence staff were told, with the numbers
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pause_id: Mapped[int | None] = mapped_column(ForeignKey("pauses.id", ondelete="SET NULL"))
    at: Mapped[datetime]


# --- clicks -------------------------------------------------------------------------------------


class ClickRow(Base):
    """How many times one link of one sent edition was followed through `/r/<token>`, counted and
    never attributed: no reader, no address, no user agent, only the edition, the item (None for a
    link that is not an item's) and the URL. `link` names the link within its edition ("item:<id>",
    or "url:<hash>") so batches of clicks add to one row. Written only by `state.clicks`."""

    __tablename__ = "clicks"
    __table_args__ = (UniqueConstraint("edition_id", "link", name="uq_clicks_edition_link"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    link: Mapped[str] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(Text)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]


class ReaderClickRow(Base):
    """A reader's clicks on one link of an edition: kept only when `[tracking] per_reader_clicks` is
    on (the email's footer then says so). Deleted with the subscriber. Written only by `state.clicks`."""

    __tablename__ = "reader_clicks"
    __table_args__ = (UniqueConstraint("edition_id", "link", "subscriber_id", name="uq_reader_clicks_edition_link"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    link: Mapped[str] = mapped_column(String(80))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]


class ReaderOpenRow(Base):
    """A reader's opens of an edition (its images loaded the open pixel): kept only when
    `[tracking] open_pixel` is on. Deleted with the subscriber. Written only by `state.clicks`."""

    __tablename__ = "reader_opens"
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id", name="uq_reader_opens_edition_subscriber"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    opens: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]


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
