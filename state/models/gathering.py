"""Gathering: the configured sources and the items gathered from them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compose.items import KEY_MAX_CHARS
from state.models.base import Base

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
    # what first gathers held back, counted per source (`syndicate status`, the desk): a range, not a scan
    # (partial: only the held-back items, so no planner mistakes it for a way to the others)
    __table_args__ = (Index("ix_items_backlog_source", "source_id", sqlite_where=text("backlog IS 1"),
                            postgresql_where=text("backlog IS true")),
                      Index("ix_items_url", "url", postgresql_using="hash"))  # a post's link card (0010)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX_CHARS), unique=True)  # url, guid:, hash: or long:
    url: Mapped[str] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    summary_html: Mapped[str] = mapped_column(Text, default="")
    summary_text: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(Text)
    image_alt: Mapped[str | None] = mapped_column(Text)  # from the source; staff may give it per post
    author: Mapped[str | None] = mapped_column(Text)
    section: Mapped[str] = mapped_column(String(50), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    # the next edition's items are those published or first seen since the last one was built (0008)
    published_at: Mapped[datetime] = mapped_column(index=True)  # published, else updated, else first seen
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(Integer, default=1)
    backlog: Mapped[bool] = mapped_column(Boolean, default=False)  # there before its source was first gathered

    source: Mapped[SourceRow] = relationship()

