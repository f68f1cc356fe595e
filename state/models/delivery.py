"""Delivering: subscribers, batches, per-recipient deliveries, provider events, figures and suppression."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from state.models.base import Base, BatchStatus, DeliveryStatus, SubscriberStatus

# --- delivering ---------------------------------------------------------------------------------


class SubscriberRow(Base):
    """Someone who may receive the newsletter, with the consent behind it and their status."""

    __tablename__ = "subscribers"
    # addresses are looked up as typed, in any case (webhooks, imports, unsubscribe, erasure) (0008)
    # the list size week by week reads who arrived or left lately, not every subscriber (0009)
    __table_args__ = (Index("ix_subscribers_email_lower", func.lower(text("email"))),
                      Index("ix_subscribers_status_arrived", "status",
                            func.coalesce(text("confirmed_at"), text("created_at"))),
                      Index("ix_subscribers_status_changed", "status", "status_changed_at"))

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
    # what the reader chose (issue 18): their sections (None: every section), tags staff segment by,
    # and a pause (no email until then)
    sections: Mapped[list[Any] | None] = mapped_column(JSON)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    paused_until: Mapped[datetime | None]


class SubscriberChangeRow(Base):
    """One change to a subscriber, with its time and its door: every preference, name, pause,
    tag, section or status change, whoever made it. Deleted with the subscriber on erasure."""

    __tablename__ = "subscriber_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    door: Mapped[str] = mapped_column(String(40))  # preferences | api | desk | cli | import | unsubscribe | form
    field: Mapped[str] = mapped_column(String(40))  # sections | name | paused_until | tags | status | email
    old: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)
    by: Mapped[str | None] = mapped_column(String(320))  # staff or API token name; None: the reader


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
    # the section set its one body carries ("blogs,news"; None: the whole edition as approved) and
    # that body's content hash (issue 18)
    sections: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64))


class DeliveryRow(Base):
    """One edition to one subscriber: whether it went out, and what the provider reported after."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id"),
                      Index("ix_deliveries_edition_status", "edition_id", "status"),  # live figures
                      Index("ix_deliveries_edition_id_id", "edition_id", "id"))  # an edition's, in order (0009)

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



class ErasedAddressRow(Base):
    """An address erased on its owner's request (UK GDPR article 17): all that is kept is a salted
    hash (HMAC-SHA256 with the erasure salt, `state.erasure`), so that no import, sign-up or API
    call subscribes it again silently. Only a member of staff's re-add with fresh consent removes it."""

    __tablename__ = "erased_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # hex HMAC-SHA256 of the canonical address
    salt_mark: Mapped[str] = mapped_column(String(16))  # which salt made it (a keyed fingerprint, not the salt)
    erased_at: Mapped[datetime]
    erased_by: Mapped[str] = mapped_column(String(320))
