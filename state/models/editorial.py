"""Composing and approving: editions, their items, social threads and posts, approvals."""

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from state.models.base import Base, EditionStatus, PostStatus, ThreadStatus
from state.models.gathering import ItemRow

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
    # who it goes to (issue 18, `compose.segments.Segment.as_json`): None, every subscriber
    segment: Mapped[dict[str, Any] | None] = mapped_column(JSON)

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
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id"), index=True)
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
    status: Mapped[PostStatus] = mapped_column(String(20), default=PostStatus.PENDING, index=True)
    provider_id: Mapped[str | None] = mapped_column(Text)
    provider_url: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None] = mapped_column(index=True)  # the calendar's range (0008)
    image_url: Mapped[str | None] = mapped_column(Text)  # the item image this post carries
    image_alt: Mapped[str | None] = mapped_column(Text)  # its alt text (source or staff); none: never published
    image_alt_by: Mapped[str | None] = mapped_column(String(320))  # staff who wrote it; None: from the source
    card_url: Mapped[str | None] = mapped_column(Text)  # the link its card previews
    # the network's opaque reference to media already uploaded for this post (JSON text), recorded
    # before the post is created so a resumed run reuses it instead of uploading again
    media_ref: Mapped[str | None] = mapped_column(Text)

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
    segment: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # an edition's segment as approved (issue 18)

